"""The server alone (packaging/server/) is the same code with fewer dependencies.

.ci/run installs it into a fresh venv and runs it there (tests/support/server_alone.py);
these checks keep the two distributions from drifting apart."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT

SERVER = ROOT / "packaging" / "server"


def project(path: str) -> dict[str, object]:
    with open(path, "rb") as handle:
        data: dict[str, object] = tomllib.load(handle)["project"]
        return data


def test_the_server_alone_has_every_dependency_but_the_client_ones() -> None:
    full, alone = project(str(ROOT / "pyproject.toml")), project(str(SERVER / "pyproject.toml"))
    assert alone["version"] == full["version"]
    deps = set(full["dependencies"])  # type: ignore[arg-type]
    client_only = ("textual", "phonenumberslite", "python-socks")  # TUI, oversharing, Tor
    expected = {d for d in deps if not d.startswith(client_only)}
    assert set(alone["dependencies"]) == expected  # type: ignore[arg-type]
    assert alone["scripts"] == {"circle-server": "circle_server.cli:main"}
    assert full["name"] == "circle-support" and alone["name"] == "circle-support-server"


def test_it_links_to_the_packages_themselves() -> None:
    for package in ("protocol", "circle_server"):
        link = SERVER / package
        assert link.is_symlink() and link.resolve() == (ROOT / package).resolve()
