import json

from tuplet.training.energy import WORLD_INTENSITY_G_PER_KWH, EnergyMeter, save_energy


def _busy(seconds: float = 0.3) -> int:
    import time

    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def test_codecarbon_offline_measures_energy(tmp_path):
    with EnergyMeter("FRA") as meter:
        _busy()
    report = meter.report
    assert report is not None and report.measured
    assert report.kwh > 0 and report.kg_co2eq > 0
    assert report.country_iso_code == "FRA"
    assert "France" in report.intensity_source
    # France's grid is far cleaner than the world average
    assert report.grid_intensity_g_per_kwh < WORLD_INTENSITY_G_PER_KWH
    out = save_energy(report, tmp_path / "energy.json", run="x")
    data = json.loads(out.read_text())
    assert data["run"] == "x" and data["kwh"] == report.kwh
    assert "codecarbon" in data["method"]


def test_estimate_without_codecarbon_is_labelled():
    with EnergyMeter("DEU", busy_cores=2, use_codecarbon=False) as meter:
        _busy(0.05)
    report = meter.report
    assert report is not None and not report.measured
    assert "ESTIMATE" in report.method and "(estimate)" in report.summary()
    assert report.grid_intensity_g_per_kwh == WORLD_INTENSITY_G_PER_KWH
    assert 0 < report.kwh < 1e-3
