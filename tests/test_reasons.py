"""The reasons a target fails most often read in the page's language where people read a verdict
(the buyers' matrix, the PDF's conclusion, the portal), the product's own words kept as they are;
in English, word for word, in the results."""

from __future__ import annotations

from lab import i18n, reasons
from lab.catalogue.publish import plain_reason
from lab.results.model import Check, reason_of


def reason(check_id: str, message: str) -> str:
    return reason_of([Check(id=check_id, outcome="failed", required=True, message=message)], "failed")


def test_a_service_that_exits_reads_in_chinese_with_its_own_last_log_line():
    log = "\nstarting\nsh: 1: exec: /usr/bin/tinyech: not found"
    said = reason("service.ready", reasons.SERVICE_EXITED.say(said=log))
    assert said == ("service.ready: the service exited before it was ready; its log ends: "
                    '"sh: 1: exec: /usr/bin/tinyech: not found"')  # quoted: the product's words
    with i18n.language("zh-CN"):
        assert plain_reason(said) == ("服务启动 (service.ready): 服务在就绪前退出；其日志最后一行："  # noqa: RUF001
                                      '"sh: 1: exec: /usr/bin/tinyech: not found"')
    with i18n.language("en"):
        assert plain_reason(said).endswith('its log ends: "sh: 1: exec: /usr/bin/tinyech: not found"')


def test_ports_vendor_tests_leftovers_and_installs_read_in_chinese():
    cases = {
        ("service.ready", reasons.PORT_NEVER_OPENED.say(ports="8080", seconds="20") + "\nservice log ends:\nx"):
            "端口 8080 在 20 秒内始终没有打开",
        ("service.ports", reasons.UNDECLARED_PORTS.say(ports="9090", declared="8080")):
            "监听了未声明的端口 9090（已声明：8080）",  # noqa: RUF001
        ("vendor.tests", reasons.VENDOR_TESTS_FAILED.say(failed=1, total=5,
                                                         said="\nvendor.tests/t.py::test_x: assert 1")):
            '5 个厂商测试中有 1 个失败："vendor.tests/t.py::test_x: assert 1"',  # noqa: RUF001
        ("install.leftovers", reasons.LEFT_BEHIND.say(count=2, said="/opt/acme; /etc/acme") + "\n  /opt/acme"):
            "卸载并清除后仍遗留 2 个路径：/opt/acme; /etc/acme",  # noqa: RUF001
        ("install.package", reasons.CANNOT_INSTALL_ON_OS.say(names="acme.deb", target="debian12-x86_64",
                                                            os="Debian GNU/Linux 12 (bookworm)",
                                                            said="Depends: libx (>= 2) but it is not installable")):
            "acme.deb 无法安装在 debian12-x86_64（Debian GNU/Linux 12 (bookworm)）上："  # noqa: RUF001
            "Depends: libx (>= 2) but it is not installable",
        ("security.setuid", reasons.SETUID.say(count=1, said="/usr/local/bin/.sh (created by a script) mode 4755")):
            "1 个 setuid/setgid 文件：/usr/local/bin/.sh (created by a script) mode 4755",  # noqa: RUF001
        ("package.symbol_versions", reasons.NEEDS_VERSION.say(path="/usr/bin/hello", version="GLIBC_2.38",
                                                              lib="libc.so.6", target="debian12-x86_64",
                                                              has="glibc 2.36, newest GLIBC_2.36")):
            "/usr/bin/hello 需要 libc.so.6 中的 GLIBC_2.38；debian12-x86_64 只有 glibc 2.36, newest GLIBC_2.36",  # noqa: RUF001
        ("package.elf_machine", reasons.BUILT_FOR.say(path="/usr/bin/hello", arch="aarch64", machine="AArch64")
         + "\n1 ELF file(s) are not for x86_64"):
            "/usr/bin/hello：为 aarch64（AArch64）构建",  # noqa: RUF001
    }
    with i18n.language("zh-CN"):
        for (check_id, message), chinese in cases.items():
            assert plain_reason(reason(check_id, message)).endswith(f"({check_id}): {chinese}"), check_id


def test_the_watch_restarts_desktop_and_database_read_in_chinese():
    from lab.stability.judge import Death, Growth

    exited = reasons.SERVICE_EXITED.say(said="\nstarting\nSegmentation fault")
    died = Death(at_s=4.0, after_s=3.0, wall=0.0).figures()
    grew = Growth(n=8, baseline=1000.0, growth=1340.0, window_s=8.0, limit_pct=5.0, floor=64.0).figures()
    cases = {
        ("stability.kill_restart", reasons.NOT_READY_AGAIN.say(attempt=3, kills=10, detail=exited)):
            '第 3/10 次 SIGKILL 并重新启动后未能再次就绪：服务在就绪前退出；其日志最后一行："Segmentation fault"',  # noqa: RUF001
        ("service.restart", reasons.KILL_LEFT.say(attempt=1, kills=3, left=reasons.PORTS_HELD.say(
            held="8080 (held by pid 77)"))):
            "第 1/3 次 SIGKILL：向服务进程树中的每个进程发送 SIGKILL 后，"  # noqa: RUF001
            "其声明的端口 8080 (held by pid 77) 仍处于打开状态",
        ("stability.uptime", reasons.DIED_BESIDE_LOAD.say(**died, duration="10", load="ab -n 9",
                                                          said="\nout of memory")):
            "在 10 秒的观察期内，服务于第 3.0–4.0 秒之间退出（1970-01-01 00:00:00 UTC 发现已退出）；"  # noqa: RUF001
            '同时运行着负载命令 `ab -n 9`；服务日志最后一行："out of memory"',  # noqa: RUF001
        ("stability.memory", reasons.MEMORY_GROWS.say(**grew, chart="logs/t/stability.svg")):
            "常驻内存持续增长：8 秒内的趋势（预热后 8 个采样）：1000 KiB -> 2340 KiB，+1340 KiB",  # noqa: RUF001
        ("desktop.launch", reasons.EXITED_BEFORE_WINDOW.say(program="acme-notes", locale="zh_CN.UTF-8",
                                                           status="exit status 1", said="\nGtk-WARNING\nbye")):
            "acme-notes（按桌面文件启动，LANG=zh_CN.UTF-8）在任何窗口出现之前就退出了（exit status 1）；"  # noqa: RUF001
            '其输出最后一行："bye"',  # noqa: RUF001
        ("install.package", reasons.KILLED_FOR_MEMORY.say(what="installing acme.deb", how="exit 137",
                                                          said="\n$ apt-get install\nReading package lists...Killed")):
            "installing acme.deb 在产品的任何内容运行之前就因内存不足被终止（exit 137）："  # noqa: RUF001
            "目标的资源限制不足以运行其软件包管理器",
        ("database.checks", reasons.SERVER_GONE.say(server="PostgreSQL 15", error="connection to server was lost")):
            "PostgreSQL 15 服务器失去连接：connection to server was lost",  # noqa: RUF001
        ("database.schema", reasons.SQL_REFUSED.say(where="schema.sql:3", server="opengauss",
                                                    statement="CREATE TABLE t (", error="syntax error")):
            "schema.sql:3：opengauss 服务器拒绝了 `CREATE TABLE t (`：syntax error",  # noqa: RUF001
    }
    for (check_id, message), chinese in cases.items():
        english = reason(check_id, message)
        with i18n.language("zh-CN"):
            shown = plain_reason(english)
        assert f"({check_id}): " in shown and chinese in shown, (check_id, shown)
        with i18n.language("en"):
            assert plain_reason(english).endswith(english.split(": ", 1)[1]), check_id  # English: as said


def test_an_inner_finding_is_read_only_with_the_inner_wordings():
    """A SIGKILL's finding is itself a wording; what a vendor's log says inside it is never read as one."""
    from lab.catalogue.record import NOT_OWNER

    forged = NOT_OWNER.say(product="x", owner="the lab", vendor="ACME", command="rerun")
    said = reason("stability.kill_restart", reasons.NOT_READY_AGAIN.say(attempt=2, kills=10, detail=forged))
    with i18n.language("zh-CN"):
        shown = plain_reason(said)
    assert "第 2/10 次 SIGKILL 并重新启动后未能再次就绪：x belongs to the lab" in shown, shown  # noqa: RUF001


def test_a_reason_the_lab_has_no_wording_for_stays_as_it_is():
    with i18n.language("zh-CN"):
        assert plain_reason("package.symbol_versions: needs GLIBC_2.38").endswith(
            "(package.symbol_versions): needs GLIBC_2.38")


def test_a_vendors_log_line_cannot_turn_a_reason_into_another_sentence():
    """Review: the last line of a service's log, made of another wording's phrases (the catalogue's
    ownership notice), was read as that wording: the failed start vanished from the Chinese cell."""
    from lab.catalogue.record import NOT_OWNER

    forged = NOT_OWNER.say(product="x", owner='"the lab"', vendor='"ACME"', command="rerun")
    said = reason("service.ready", reasons.SERVICE_EXITED.say(said="\n" + forged))
    with i18n.language("zh-CN"):
        shown = plain_reason(said)
    assert shown.startswith("服务启动 (service.ready): 服务在就绪前退出；其日志最后一行：\""), shown  # noqa: RUF001
    assert "属于" not in shown and "rerun" in shown  # the vendor's line quoted as it is, never translated


def test_a_vendors_text_made_of_a_wordings_phrases_is_read_in_one_pass_or_not_at_all():
    """Review: one upload whose unknown key repeated a wording's phrases took 10 s to render (a
    backtracking regular expression per wording, on the event loop). Reading is one left-to-right
    pass now (its cost is bench-free: no split is ever retried), and a text past READ_MAX is not
    read at all."""
    from lab.wording import READ_MAX, known

    hostile = "x" + " cannot be installed on " * 80 + " (" * 300 + ")"
    assert known(hostile) is None and known(hostile[:READ_MAX - 1]) is None
    assert known("x" * (READ_MAX + 1)) is None
    assert reasons.CANNOT_INSTALL.read("a.deb cannot be installed on t: why: because") == {
        "names": "a.deb", "target": "t", "said": "why: because"}
    assert reasons.CANNOT_INSTALL.read("a.deb cannot be installed on : why") is None  # empty: not said
