"""a2d.machine: the CPU model a measurement names."""

from __future__ import annotations

from pathlib import Path

from a2d import machine


def test_cpu_model_reads_the_model_name_line(monkeypatch):
    text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU @ 2.00GHz\n"
    monkeypatch.setattr(Path, "read_text", lambda self: text)
    assert machine.cpu_model() == "Test CPU @ 2.00GHz"


def test_cpu_model_falls_back_without_cpuinfo(monkeypatch):
    def missing(self):
        raise OSError("no /proc")

    monkeypatch.setattr(Path, "read_text", missing)
    monkeypatch.setattr(machine.platform, "processor", lambda: "")
    monkeypatch.setattr(machine.platform, "machine", lambda: "x86_64")
    assert machine.cpu_model() == "x86_64"
