"""The vendor's own tests: the program runs against the library installed with it."""


def test_curl_reports_its_library(host):
    r = host.run("curl --version")
    assert r.rc == 0 and "libcurl/" in r.stdout, r.stdout + r.stderr


def test_curl_reads_a_local_file(host):
    host.run("echo lab > /tmp/curl-probe")
    try:
        assert host.run("curl -s file:///tmp/curl-probe").stdout.strip() == "lab"
    finally:
        host.run("rm -f /tmp/curl-probe")  # a test leaves nothing behind either: the lab would see it
