"""The JSON bodies the studio's API takes (pydantic: a wrong type is refused with 422)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tuplet.studio.work import Action


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewBody(_Body):
    """Start an empty piece."""

    qpm: float = Field(120.0, gt=10, le=400)
    meter: list[int] = Field(default_factory=lambda: [4, 4], min_length=2, max_length=2)


class PickBody(_Body):
    """Open a bundled example by id."""

    id: str = Field(max_length=200)


class ActionBody(_Body):
    """An action on the piece (see :class:`tuplet.studio.work.Action`)."""

    mode: str = Field(max_length=20)
    n: int = 2
    instruments: list[str] | None = Field(None, max_length=16)
    bars: int = 4
    meter: list[int] | None = Field(None, min_length=2, max_length=2)
    adventurous: float = 0.0
    seed: int | None = Field(None, ge=0, lt=2**31)
    from_beat: float = Field(0.0, ge=0)
    start_beat: int | None = None
    end_beat: int | None = None
    tracks: list[int] = Field(default_factory=list, max_length=64)
    instrument: str | None = Field(None, max_length=60)
    model: str | None = Field(None, max_length=200)

    def to_action(self) -> Action:
        """The action this body asks for (checked later against the piece and model)."""
        instruments = None
        if self.instruments:
            instruments = tuple(x.strip() for x in self.instruments if x.strip()) or None
        return Action(
            mode=self.mode,
            n=self.n,
            instruments=instruments,
            bars=self.bars,
            meter=None if self.meter is None else (self.meter[0], self.meter[1]),
            adventurous=self.adventurous,
            seed=self.seed,
            from_beat=self.from_beat,
            start_beat=self.start_beat,
            end_beat=self.end_beat,
            tracks=tuple(self.tracks),
            instrument=self.instrument,
        )


__all__ = ["ActionBody", "NewBody", "PickBody"]
