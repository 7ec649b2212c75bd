"""The vendor's own tests: they run while the lab keeps the declared service up and ready."""


def test_the_server_answers_stats(host):
    r = host.run("/usr/share/memcached/scripts/memcached-tool 127.0.0.1:11211 stats")  # perl, from the OS
    assert r.rc == 0, r.stderr
    assert "curr_connections" in r.stdout


def test_it_stores_and_returns_a_value(host):
    talk = 'printf "set lab 0 60 2\\r\\nok\\r\\nget lab\\r\\nquit\\r\\n" >&3; cat <&3'
    r = host.run(f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/11211; {talk}'")
    assert "STORED" in r.stdout and "VALUE lab 0 2" in r.stdout, r.stdout
