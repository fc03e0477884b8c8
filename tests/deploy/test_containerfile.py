"""deploy/Containerfile: the instructions a safe, working regproxy image depends on.

No container engine can build here (no base image registry), so the file is parsed and its
essential instructions pinned down; the HEALTHCHECK command itself is run against a local
HTTP server, since it is the one piece of code the file carries.
"""

from __future__ import annotations

import http.server
import json
import re
import shlex
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CONTAINERFILE = DEPLOY / "Containerfile"
CONFIG_PATH = "/etc/regproxy/regproxy.yaml"
ADMIN_PORT = 9100
REGISTRY_PORT = 5000


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str
    args: str


@dataclass(frozen=True, slots=True)
class Stage:
    image: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage FROM {self.image}"
        return found[-1]


def parse_instructions(text: str) -> list[Instruction]:
    """Dockerfile syntax: `#` comment lines, `\\` continuations, KEYWORD then arguments."""
    out: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment line inside a continued instruction is dropped
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, args = whole.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip()))
    assert not pending, "the file ends inside a continued instruction"
    return out


def parse_stages(text: str) -> list[Stage]:
    """Stages split at FROM; ARG defaults declared before the first FROM are substituted."""
    global_args: dict[str, str] = {}
    stages: list[tuple[str, str | None, list[Instruction]]] = []
    for ins in parse_instructions(text):
        if ins.keyword == "FROM":
            words = ins.args.split()
            words = [w for w in words if not w.startswith("--platform")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: global_args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append((image, name, []))
        elif not stages:
            assert ins.keyword == "ARG", f"{ins.keyword} before the first FROM"
            key, _, default = ins.args.partition("=")
            global_args[key] = default
        else:
            stages[-1][2].append(ins)
    return [Stage(image, name, tuple(ins)) for image, name, ins in stages]


def exec_form(instruction: Instruction) -> list[str]:
    """The JSON (exec) form's argv; the shell form would run under /bin/sh -c, which does not
    pass SIGTERM on to regproxy."""
    try:
        argv = json.loads(instruction.args)
    except json.JSONDecodeError:
        pytest.fail(f"{instruction.keyword} is not in exec (JSON) form: {instruction.args}")
    assert isinstance(argv, list)
    assert all(isinstance(a, str) for a in argv)
    return argv


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_stages(CONTAINERFILE.read_text())


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


def healthcheck_argv(final: Stage) -> list[str]:
    args = final.last("HEALTHCHECK").args
    options, sep, command = args.partition("CMD ")
    assert sep, "HEALTHCHECK has no CMD"
    assert "--interval=" in options
    assert "--timeout=" in options
    return exec_form(Instruction("HEALTHCHECK", command))


def test_wheels_are_built_in_a_separate_stage_from_python_311_slim(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    for stage in stages:
        assert re.fullmatch(r"(docker\.io/)?(library/)?python:3\.11-slim(-\w+)?(@sha256:[0-9a-f]{64})?", stage.image), (
            stage.image
        )
    build = stages[0]
    assert build.name == "build"
    assert any("pip wheel" in i.args for i in build.all("RUN"))


def test_the_image_installs_the_hashed_lock_the_tests_ran_against(stages: list[Stage]) -> None:
    build = " ".join(i.args for i in stages[0].all("RUN"))
    # every dependency from requirements/runtime.txt, each file checked against its hash ...
    assert build.count("--require-hashes -r requirements/runtime.txt") == 2  # `pip wheel`, then install
    # ... and regproxy's own wheel built by the locked setuptools, not whatever the index has
    assert "--require-hashes --only-binary=:all: -r requirements/build.txt" in build
    assert "--no-deps --no-build-isolation" in build


def test_runtime_stage_takes_only_the_built_environment_from_the_build_stage(final: Stage) -> None:
    copies = final.all("COPY")
    assert copies
    for copy in copies:
        assert copy.args.startswith("--from=build "), f"the runtime stage copies from the context: {copy.args}"
    assert not final.all("ADD")


def test_runs_as_a_numeric_non_root_user(final: Stage) -> None:
    # numeric, so that Kubernetes' runAsNonRoot can check it without an /etc/passwd lookup
    user = final.last("USER").args
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), user
    assert int(uid) != 0
    assert not gid or (gid.isdigit() and int(gid) != 0), user
    # nothing after USER switches back to root
    after = final.instructions[final.instructions.index(final.last("USER")) :]
    assert not [i for i in after if i.keyword == "RUN"]


def test_exposes_the_registry_and_admin_ports(final: Stage) -> None:
    ports = {int(p.split("/")[0]) for i in final.all("EXPOSE") for p in i.args.split()}
    assert {REGISTRY_PORT, ADMIN_PORT} <= ports


def test_entrypoint_serves_with_the_config_file_in_exec_form(final: Stage) -> None:
    argv = exec_form(final.last("ENTRYPOINT"))
    assert argv[-4:] == ["regproxy", "serve", "--config", CONFIG_PATH]
    init = argv[:-4]
    if init:  # an init process in front must hand the command over with `--`
        assert Path(init[0]).name in {"tini", "tini-static", "dumb-init"}
        assert init[-1] == "--"


def test_entrypoint_names_the_console_script_the_package_installs() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts.get("regproxy") == "regproxy.cli:main"


def test_stops_with_sigterm(final: Stage) -> None:
    stopsignal = final.all("STOPSIGNAL")
    assert not stopsignal or stopsignal[-1].args in {"SIGTERM", "15"}


def test_healthcheck_asks_the_admin_healthz_with_python(final: Stage) -> None:
    argv = healthcheck_argv(final)
    assert re.fullmatch(r"python3?(\.\d+)?", Path(argv[0]).name), argv[0]
    assert not {"curl", "wget"} & {Path(a).name for a in argv}
    assert f"http://127.0.0.1:{ADMIN_PORT}/healthz" in argv[-1]


class _Admin(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def admin_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Admin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _run_healthcheck(final: Stage, port: int) -> int:
    argv = healthcheck_argv(final)
    argv[-1] = argv[-1].replace(f"127.0.0.1:{ADMIN_PORT}", f"127.0.0.1:{port}")
    argv[0] = sys.executable  # the image's python is not here; the command line is
    done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    return done.returncode


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)], ids=["200-healthy", "503-unhealthy"])
def test_healthcheck_command_reports_what_healthz_answers(
    final: Stage, admin_server: http.server.ThreadingHTTPServer, status: int, healthy: bool
) -> None:
    handler = type("Handler", (_Admin,), {"status": status})
    admin_server.RequestHandlerClass = handler
    code = _run_healthcheck(final, admin_server.server_address[1])
    assert (code == 0) is healthy, f"exit {code} for /healthz answering {status}"


def test_healthcheck_command_fails_when_nothing_listens(final: Stage) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert _run_healthcheck(final, port) != 0


def test_ignore_file_lets_in_what_the_build_copies(stages: list[Stage]) -> None:
    rules = [
        line.strip()
        for line in (DEPLOY / ".containerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    for copy in stages[0].all("COPY"):
        *sources, _dest = shlex.split(copy.args)
        for source in sources:
            assert source.rstrip("/") in allowed, f"COPY {source} is excluded by deploy/.containerignore"
