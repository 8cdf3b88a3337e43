"""`async with client:` for the Asterisk clients: whatever happens inside, the client closes."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class ClosesOnExit:
    """Base for a client used as `async with`: `_enter()` on the way in (nothing unless the
    client overrides it: AMI connects there), `close()` on the way out, error or not."""

    async def _enter(self) -> None:
        return None

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self._enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
