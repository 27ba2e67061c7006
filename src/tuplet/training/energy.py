"""Energy and CO2 of a training run, measured offline.

With codecarbon installed (the ``energy`` extra), :class:`EnergyMeter` runs codecarbon's
``OfflineEmissionsTracker`` for the given country (no network calls): CPU power from RAPL where
the kernel exposes it, else codecarbon's CPU-load/TDP model; GPU power from NVML; RAM from
codecarbon's per-GB estimate; the grid's carbon intensity from codecarbon's bundled
country energy-mix table (world average 475 gCO2eq/kWh where a country is unknown).

Without codecarbon the meter still reports, clearly labelled as an *estimate*: wall time x an
assumed power draw (per busy CPU core, plus a fixed figure per CUDA device), at the world-average
intensity.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

WORLD_INTENSITY_G_PER_KWH = 475.0
# Used only for the labelled estimate when codecarbon is missing.
ASSUMED_WATTS_PER_CORE = 10.0
ASSUMED_WATTS_PER_GPU = 300.0
RAPL_PATH = "/sys/class/powercap/intel-rapl:0/energy_uj"


@dataclass(frozen=True)
class EnergyReport:
    """What a run cost.

    Attributes:
        kwh: Energy used, kilowatt-hours.
        kg_co2eq: Emissions, kilograms of CO2-equivalent.
        grid_intensity_g_per_kwh: Carbon intensity used, gCO2eq per kWh.
        intensity_source: Where that intensity comes from.
        country_iso_code: ISO 3166-1 alpha-3 country code of the grid.
        hardware: CPU model and count, GPU model and count.
        hours: Wall-clock hours measured.
        method: How power was measured (or estimated).
        measured: False when this is an estimate without a power meter.
    """

    kwh: float
    kg_co2eq: float
    grid_intensity_g_per_kwh: float
    intensity_source: str
    country_iso_code: str
    hardware: dict[str, Any]
    hours: float
    method: str
    measured: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return asdict(self)

    def summary(self) -> str:
        """One line for the terminal."""
        label = "" if self.measured else " (estimate)"
        return (
            f"energy{label}: {self.kwh:.4g} kWh, {self.kg_co2eq * 1000:.4g} g CO2eq "
            f"at {self.grid_intensity_g_per_kwh:.0f} g/kWh ({self.country_iso_code}), "
            f"{self.hours * 60:.1f} min"
        )


def _hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "gpu": None,
        "gpu_count": 0,
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu_count"] = torch.cuda.device_count()
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


class EnergyMeter:
    """Measure a block of work: ``with EnergyMeter("DEU") as meter: ...; meter.report``.

    Args:
        country_iso_code: The grid's country (ISO 3166-1 alpha-3, e.g. "DEU", "USA", "FRA").
        busy_cores: For the estimate without codecarbon: how many CPU cores the work kept busy.
        use_codecarbon: Set False to force the labelled estimate.
    """

    def __init__(
        self,
        country_iso_code: str = "USA",
        *,
        busy_cores: int | None = None,
        use_codecarbon: bool = True,
    ) -> None:
        self.country_iso_code = country_iso_code.upper()
        self.busy_cores = busy_cores or (os.cpu_count() or 1)
        self.use_codecarbon = use_codecarbon
        self.report: EnergyReport | None = None
        self._tracker: Any = None
        self._start = 0.0

    def start(self) -> None:
        """Start measuring."""
        self._start = time.perf_counter()
        if not self.use_codecarbon:
            return
        try:
            import logging

            from codecarbon import OfflineEmissionsTracker
        except ImportError:
            return
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        self._tracker = OfflineEmissionsTracker(
            country_iso_code=self.country_iso_code,
            save_to_file=False,
            log_level="error",
            measure_power_secs=5,
        )
        self._tracker.start()

    def stop(self) -> EnergyReport:
        """Stop measuring and return the report (also kept in ``self.report``)."""
        hours = (time.perf_counter() - self._start) / 3600.0
        hardware = _hardware()
        if self._tracker is not None:
            self._tracker.stop()
            data = self._tracker.final_emissions_data
            self._tracker = None
            kwh = float(data.energy_consumed)
            kg = float(data.emissions)
            intensity = kg * 1000.0 / kwh if kwh > 0 else WORLD_INTENSITY_G_PER_KWH
            cpu_method = (
                "RAPL" if os.access(RAPL_PATH, os.R_OK) else "codecarbon CPU model (load x TDP)"
            )
            gpu_method = ", GPU by NVML" if hardware["gpu_count"] else ""
            self.report = EnergyReport(
                kwh=kwh,
                kg_co2eq=kg,
                grid_intensity_g_per_kwh=intensity,
                intensity_source=(
                    f"codecarbon {data.codecarbon_version} offline energy-mix table for "
                    f"{data.country_name}"
                ),
                country_iso_code=self.country_iso_code,
                hardware={**hardware, "cpu_model_codecarbon": data.cpu_model},
                hours=hours,
                method=(
                    f"codecarbon OfflineEmissionsTracker: CPU by {cpu_method}{gpu_method}, "
                    f"RAM by codecarbon's estimate; mean CPU {data.cpu_power:.1f} W, "
                    f"RAM {data.ram_power:.1f} W"
                ),
                measured=True,
            )
        else:
            watts = self.busy_cores * ASSUMED_WATTS_PER_CORE + (
                hardware["gpu_count"] * ASSUMED_WATTS_PER_GPU
            )
            kwh = watts * hours / 1000.0
            self.report = EnergyReport(
                kwh=kwh,
                kg_co2eq=kwh * WORLD_INTENSITY_G_PER_KWH / 1000.0,
                grid_intensity_g_per_kwh=WORLD_INTENSITY_G_PER_KWH,
                intensity_source="world average (no codecarbon; country not applied)",
                country_iso_code=self.country_iso_code,
                hardware=hardware,
                hours=hours,
                method=(
                    f"ESTIMATE, not measured (codecarbon not installed: pip install "
                    f"'tuplet[energy]'): {ASSUMED_WATTS_PER_CORE:.0f} W per busy core x "
                    f"{self.busy_cores} + {ASSUMED_WATTS_PER_GPU:.0f} W per GPU x "
                    f"{hardware['gpu_count']}"
                ),
                measured=False,
            )
        return self.report

    def __enter__(self) -> EnergyMeter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def save_energy(report: EnergyReport, path: str | os.PathLike[str], **extra: Any) -> Path:
    """Write ``energy.json`` atomically (``extra`` keys are added, e.g. accumulated totals)."""
    out = Path(path)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps({**report.to_dict(), **extra}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return out
