"""What reaches the researcher outside the TUI: apprise messages, the terminal bell, a shell hook.

`attach(orchestra)` subscribes a `Notifier` to the engine's bus when `[notify]` asks for
anything; the engine never learns that notifications exist.
"""

from conductor.notify.notices import Notice, NoticeWatch
from conductor.notify.notifier import Notifier, attach

__all__ = ["Notice", "NoticeWatch", "Notifier", "attach"]
