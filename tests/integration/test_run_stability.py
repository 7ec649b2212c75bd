"""Suite `stability` on tiny services built here: one that leaks, one that holds steady, one that
dies at a random moment during the watch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from examples.make import build_tarball, compile_c
from lab import i18n
from lab.catalogue.publish import plain_reason

pytestmark = [pytest.mark.slow, pytest.mark.docker]
T = "debian12-x86_64"

SERVICE_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "steady";
    char *held = malloc(1 << 20);
    memset(held, 1, 1 << 20);                  /* a working set, allocated once */
    srand((unsigned)(time(NULL) ^ getpid()));
    int lifetime = 3 + rand() % 4;             /* die: 3 to 6 s after it starts */
    printf("svc %s: started\n", mode);
    fflush(stdout);
    if (!strcmp(mode, "worker")) for (;;) {        /* the escaped worker: 2.5 MiB a second, never freed */
        char *lost = malloc(256 << 10);
        memset(lost, 3, 256 << 10);
        usleep(100000);
    }
    if (!strcmp(mode, "escape") && fork() == 0) {  /* a worker that leaves the service's tree */
        setsid();
        if (fork() != 0) return 0;                 /* reparented to init */
        char *none[] = {NULL};                     /* no environment: no mark of the lab's supervisor */
        execle(argv[0], argv[0], "worker", (char *)NULL, none);
        return 1;
    }
    for (long tick = 0;; tick++) {
        if (!strcmp(mode, "leak")) {
            char *lost = malloc(64 << 10);     /* 640 KiB a second, never freed */
            memset(lost, 2, 64 << 10);
        }
        if (!strcmp(mode, "die") && tick == lifetime * 10) {
            fprintf(stderr, "svc: fatal: the widget store went away after %d s\n", lifetime);
            return 1;
        }
        usleep(100000);
    }
}
"""


def service_submission(folder: Path, mode: str, duration: int = 10) -> Path:
    """``duration``: at least the lab's own watch (targets.toml: 10 s), the least a submission may ask."""
    (folder / "build").mkdir(parents=True)
    (folder / "build/svc.c").write_text(SERVICE_C)
    binary = compile_c(folder / "build/svc.c", folder / "build/svc")
    art = build_tarball({"bin/svc": binary, "install.sh": b"#!/bin/sh\nexit 0\n"}, folder / f"svc-{mode}.tar.gz")
    (folder / "submission.toml").write_text(
        f'schema = 1\n[product]\nname = "svc-{mode}"\nversion = "1.0"\nvendor = "Test Vendor"\n'
        f'[[artifacts]]\npath = "{art.name}"\nprefix = "/opt/svc"\ninstall = "install.sh"\n'
        f'[service]\ncommand = "/opt/svc/bin/svc {mode}"\nready_timeout = 5\n'
        f'[stability]\nduration = {duration}\nload = "while :; do cat /proc/loadavg >/dev/null; sleep 0.2; done"\n')
    return folder


def test_a_service_that_leaks_fails_stability_memory_with_its_chart(tmp_path, lab_run):
    run = lab_run(service_submission(tmp_path / "leak", "leak"), "--targets", T, "--suites", "service,stability")
    assert run.proc.returncode == 1
    memory = run.check(T, "stability.memory")
    assert memory["outcome"] == "failed", memory["message"]
    assert memory["message"].startswith("its resident memory keeps growing: trend over ")
    assert "the limit is 5 %" in memory["message"]
    with i18n.language("zh-CN"):  # the buyers' matrix and the PDF read it in Chinese, figures as measured
        shown = plain_reason(run.target(T)["reason"])
    assert "(stability.memory): 常驻内存持续增长：" in shown and "KiB -> " in shown, shown  # noqa: RUF001
    metrics = run.target(T)["metrics"]
    assert metrics["stability.rss_growth_pct"] > 5
    chart = (run.out / f"logs/{T}/stability.svg").read_text()
    assert chart.startswith("<svg") and "trend +" in chart
    series = json.loads((run.out / f"logs/{T}/stability.json").read_text())
    assert len(series["samples"]) == metrics["stability.samples"] >= 5
    assert series["load"].startswith("while :")
    attached = [p for p in (run.out / "allure-results").iterdir() if p.suffix == ".svg"]
    assert attached and attached[0].read_text() == chart
    assert run.check(T, "stability.uptime")["outcome"] == "passed"


def test_a_steady_service_passes_every_stability_check(tmp_path, lab_run):
    run = lab_run(service_submission(tmp_path / "steady", "steady"), "--targets", T, "--suites",
                  "service,package,stability")
    checks = run.target(T)["checks"]
    outcomes = {c["id"]: (c["outcome"], c["message"]) for c in checks}
    for cid in ("stability.uptime", "stability.memory", "stability.fds", "stability.kill_restart"):
        assert outcomes[cid][0] == "passed", (cid, outcomes[cid][1])
    assert "ready again after each of 10 SIGKILLs" in outcomes["stability.kill_restart"][1]
    assert run.proc.returncode == 0, run.target(T)["reason"]
    restarts = (run.out / f"logs/{T}/stability-restarts.log").read_text()
    assert restarts.count("svc steady: started") == 10
    # The package checks ran while the watch sampled the service, and the results list them in the
    # report's order all the same; the samples are stability.uptime's evidence, not theirs.
    events = [json.loads(line) for line in (run.out / f"logs/{T}/events.jsonl").read_text().splitlines()]
    at = {e.get("id", e["event"]): e["t"] for e in events}
    assert at["watch-started"] < at["package.elf_machine"] < at["package.runpath"] < at["stability.uptime"]
    # the rest of the watch said to be waiting (the controller warms its report up then), and it is
    assert at["package.runpath"] < at["watch-waiting"] < at["stability.uptime"] - 5
    assert at["stability.uptime"] - at["watch-started"] >= 8  # the whole watch, however it was spent
    ids = [c["id"] for c in checks]
    assert ids.index("package.runpath") < ids.index("service.ready") < ids.index("stability.uptime")
    samples = "sid="
    assert any(samples in e["command"] for e in next(c for c in checks if c["id"] == "stability.uptime")["evidence"])
    assert not any(samples in e["command"] for c in checks if c["id"].startswith("package.") for e in c["evidence"])


def test_a_service_that_dies_during_the_watch_fails_stability_uptime_with_its_last_words(tmp_path, lab_run):
    run = lab_run(service_submission(tmp_path / "die", "die"), "--targets", T, "--suites", "service,stability")
    assert run.proc.returncode == 1
    uptime = run.check(T, "stability.uptime")
    assert uptime["outcome"] == "failed", uptime["message"]
    assert "s into the 10 s watch (found gone at 20" in uptime["message"]
    assert "svc: fatal: the widget store went away after" in uptime["message"]
    with i18n.language("zh-CN"):
        shown = plain_reason(run.target(T)["reason"])
    assert "秒的观察期内，服务于第 " in shown and "同时运行着负载命令 `while :;" in shown, shown  # noqa: RUF001
    assert "svc: fatal: the widget store went away after" in shown, shown  # the product's words, as said


# A stub whose worker leaves the service: a new session, a second fork (reparented to init) and an
# empty environment, then it holds the declared port. Its restarts find the port taken and idle.
ESCAPE_C = r"""
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "worker")) {
        int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7070), .sin_addr.s_addr = htonl(0x7f000001)};
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8)) return 1;
        for (;;) pause();
    }
    if (fork() == 0) {
        setsid();
        if (fork()) _exit(0);
        char *args[] = {argv[0], "worker", NULL}, *env[] = {NULL};
        execve("/proc/self/exe", args, env);
        _exit(1);
    }
    for (;;) pause();
}
"""


def test_a_worker_that_escapes_the_service_and_keeps_its_port_fails_the_restart(tmp_path, lab_run):
    """Review: such a stub passed service.restart and stability.kill_restart without the server
    ever restarting (only the stub's group was killed, and the port answered)."""
    folder = tmp_path / "escape"
    (folder / "build").mkdir(parents=True)
    (folder / "build/stub.c").write_text(ESCAPE_C)
    binary = compile_c(folder / "build/stub.c", folder / "build/stub")
    art = build_tarball({"bin/stub": binary, "install.sh": b"#!/bin/sh\nexit 0\n"}, folder / "stub.tar.gz")
    (folder / "submission.toml").write_text(
        'schema = 1\n[product]\nname = "svc-escape"\nversion = "1.0"\nvendor = "Test Vendor"\n'
        f'[[artifacts]]\npath = "{art.name}"\nprefix = "/opt/stub"\ninstall = "install.sh"\n'
        '[service]\ncommand = "/opt/stub/bin/stub"\nports = [7070]\nready_timeout = 5\n')
    run = lab_run(folder, "--targets", T, "--suites", "service")
    assert run.check(T, "service.ready")["outcome"] == "passed"
    restart = run.check(T, "service.restart")
    assert restart["outcome"] == "failed", restart["message"]
    assert "declared port(s) 7070 (held by pid " in restart["message"], restart["message"]
    assert "the service never restarted" in restart["message"]
    assert run.proc.returncode == 1 and run.target(T)["verdict"] == "failed"


def test_a_worker_that_leaves_the_services_tree_and_leaks_fails_stability_memory(tmp_path, lab_run):
    """Hostile review: the service's worker called setsid, forked again and cleared its environment,
    then grew 1 MiB a second; the tree the watch samples held steady and stability.memory passed at
    +0.0 %. The container's own memory, every process in it, is judged too."""
    run = lab_run(service_submission(tmp_path / "escape", "escape"), "--targets", T, "--suites",
                  "service,stability")
    memory = run.check(T, "stability.memory")
    assert memory["outcome"] == "failed", memory["message"]
    assert memory["message"].startswith("the container's memory keeps growing outside the service's process tree")
    assert run.target(T)["metrics"]["stability.container_growth_pct"] > 5
    assert run.proc.returncode == 1
