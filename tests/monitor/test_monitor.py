"""Hardware detection and the system sampler: the CPU path for real; NVML, TPU chips and libtpu's
metrics (which cannot exist on this machine) through their module functions and sysfs/dev trees."""

import subprocess
import sys
import types
from types import SimpleNamespace

import psutil
import pynvml
import pytest

from gemma_jax.monitor import SystemSampler, detect_hardware, gpu, tpu

GIB = 2**30


@pytest.fixture(autouse=True)
def fresh_nvml():
    gpu.reset()
    yield
    gpu.reset()


@pytest.fixture
def no_gpu(monkeypatch):
    def fail():
        raise pynvml.NVMLError_LibraryNotFound(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", fail)


@pytest.fixture
def no_tpu(monkeypatch, tmp_path):
    monkeypatch.setattr(tpu, "PCI_DIR", tmp_path / "no-pci")
    monkeypatch.setattr(tpu, "DEV_DIR", tmp_path / "no-dev")
    monkeypatch.delenv("TPU_ACCELERATOR_TYPE", raising=False)


def test_the_cpu_host_for_real(no_gpu, no_tpu, tmp_path):
    hardware = detect_hardware()
    cores = psutil.cpu_count()
    memory = psutil.virtual_memory().total
    assert (hardware.kind, hardware.name, hardware.device_count) == ("cpu", "CPU", cores)
    assert hardware.memory_per_device_bytes is None and hardware.host_memory_bytes == memory
    assert hardware.describe() == f"CPU, {cores} cores, {memory / GIB:.0f} GiB RAM"

    sampler = SystemSampler([tmp_path / "runs-not-made-yet", tmp_path])  # one filesystem, counted once
    sum(i * i for i in range(200_000))  # some CPU time between the readings
    sample = sampler.sample()
    disk = psutil.disk_usage(str(tmp_path))
    assert sample["disk_total_gb"] == round(disk.total / 1e9, 3)
    assert abs(sample["disk_used_gb"] - disk.used / 1e9) < 1.0
    assert sample["ram_total_gb"] == round(memory / 1e9, 3) and 0 < sample["ram_used_gb"] < sample["ram_total_gb"]
    assert 0.0 <= sample["cpu_percent"] <= 100.0
    assert sample["accelerators"] == []


def test_the_monitor_never_imports_jax():
    code = (
        "import sys; from gemma_jax.monitor import SystemSampler, detect_hardware; "
        "detect_hardware(); SystemSampler().sample(); import gemma_jax.jobs; "
        "assert 'jax' not in sys.modules, 'jax imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_gpus_through_nvml(monkeypatch, no_tpu):
    memory = [SimpleNamespace(total=150_754_820_096, used=40_000_000_000), SimpleNamespace(total=2 * GIB, used=0)]

    def utilization(handle):
        if handle == 1:  # e.g. a MIG instance: the query is not supported
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return SimpleNamespace(gpu=37)

    def handle(index):
        if index == 2:  # a GPU that fell off the bus is skipped, not fatal
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        return index

    monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: 3)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", handle)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetName", lambda h: [b"NVIDIA H200", "NVIDIA T4"][h])
    monkeypatch.setattr(pynvml, "nvmlDeviceGetMemoryInfo", lambda h: memory[h])
    monkeypatch.setattr(pynvml, "nvmlDeviceGetUtilizationRates", utilization)

    hardware = detect_hardware()
    assert (hardware.kind, hardware.name, hardware.device_count) == ("gpu", "NVIDIA H200", 2)
    assert hardware.memory_per_device_bytes == 150_754_820_096
    assert hardware.describe() == "2× NVIDIA H200, 140 GiB"
    assert SystemSampler().sample()["accelerators"] == [
        {
            "index": 0,
            "name": "NVIDIA H200",
            "memory_used_gb": 40.0,
            "memory_total_gb": 150.755,
            "utilization_percent": 37.0,
        },
        {"index": 1, "name": "NVIDIA T4", "memory_used_gb": 0.0, "memory_total_gb": 2.147, "utilization_percent": None},
    ]


def _pci_device(root, name, vendor, device, subsystem="0x0000"):
    folder = root / name
    folder.mkdir(parents=True)
    for key, value in (("vendor", vendor), ("device", device), ("subsystem_device", subsystem)):
        (folder / key).write_text(value + "\n")


def test_tpu_chips_from_the_pci_bus_without_runtime_metrics(monkeypatch, no_gpu, no_tpu, tmp_path):
    pci = tmp_path / "pci"
    for i in range(4):
        _pci_device(pci, f"0000:00:0{i + 4}.0", "0x1ae0", "0x0063")
    _pci_device(pci, "0000:00:01.0", "0x8086", "0x1237")  # not Google's
    monkeypatch.setattr(tpu, "PCI_DIR", pci)
    monkeypatch.setenv("TPU_ACCELERATOR_TYPE", "v5litepod-4")
    monkeypatch.setitem(sys.modules, "tpu_info", None)  # libtpu's tpu_info not installed

    hardware = detect_hardware()
    assert (hardware.kind, hardware.name, hardware.device_count) == ("tpu", "TPU v5e (v5litepod-4)", 4)
    assert hardware.describe() == "4× TPU v5e (v5litepod-4), 16 GiB"
    accelerators = SystemSampler().sample()["accelerators"]
    assert [a["index"] for a in accelerators] == [0, 1, 2, 3]
    assert accelerators[0] == {
        "index": 0,
        "name": "TPU v5e (v5litepod-4)",
        "memory_used_gb": None,
        "memory_total_gb": round(16 * GIB / 1e9, 3),
        "utilization_percent": None,
    }


def test_tpu_from_device_files_or_the_environment_alone(monkeypatch, no_gpu, no_tpu, tmp_path):
    dev = tmp_path / "dev"
    (dev / "vfio").mkdir(parents=True)
    for name in ("0", "1", "vfio"):  # /dev/vfio/vfio is the container, not a chip
        (dev / "vfio" / name).touch()
    monkeypatch.setattr(tpu, "DEV_DIR", dev)
    hardware = detect_hardware()
    assert (hardware.kind, hardware.name, hardware.device_count, hardware.memory_per_device_bytes) == (
        "tpu",
        "TPU",
        2,
        None,
    )
    assert hardware.describe() == "2× TPU"

    monkeypatch.setattr(tpu, "DEV_DIR", tmp_path / "no-dev")
    monkeypatch.setenv("TPU_ACCELERATOR_TYPE", "v4-8")
    assert detect_hardware().name == "TPU v4-8"


def test_tpu_figures_from_libtpu_metrics(monkeypatch, no_gpu, no_tpu):
    monkeypatch.setenv("TPU_ACCELERATOR_TYPE", "v6e-1")
    usage = types.SimpleNamespace(device_id=0, memory_usage=3 * 10**9, total_memory=32 * GIB, duty_cycle_pct=88.5)
    device = types.ModuleType("tpu_info.device")
    device.get_local_chips = lambda: ("v6e", 1)
    metrics = types.ModuleType("tpu_info.metrics")
    metrics.get_chip_usage = lambda chip: [usage] if chip == "v6e" else []
    package = types.ModuleType("tpu_info")
    package.device, package.metrics = device, metrics
    monkeypatch.setitem(sys.modules, "tpu_info", package)
    monkeypatch.setitem(sys.modules, "tpu_info.device", device)
    monkeypatch.setitem(sys.modules, "tpu_info.metrics", metrics)
    assert SystemSampler().sample()["accelerators"] == [
        {"index": 0, "name": "TPU v6e-1", "memory_used_gb": 3.0, "memory_total_gb": 34.36, "utilization_percent": 88.5}
    ]

    def unavailable(chip):
        raise RuntimeError("StatusCode.UNAVAILABLE")  # no job serving metrics right now

    metrics.get_chip_usage = unavailable
    assert SystemSampler().sample()["accelerators"][0]["memory_used_gb"] is None
