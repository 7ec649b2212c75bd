/* acme-web: a tiny HTTP service, to show how the lab supervises a vendor's daemon.
 *   acme-web --port 8080 [--extra-port 9090]   serve until SIGTERM
 *   acme-web --check --port 8080               exit 0 if the service answers
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 16)) { perror("bind/listen"); exit(1); }
    return fd;
}

static int check(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char buf[256] = {0};
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
    if (write(fd, "GET / HTTP/1.0\r\n\r\n", 18) < 0) return 1;
    if (read(fd, buf, sizeof buf - 1) < 0) return 1;
    return strstr(buf, "200 OK") ? 0 : 1;
}

int main(int argc, char **argv) {
    int port = 8080, extra = 0, do_check = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--extra-port") && i + 1 < argc) extra = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--check")) do_check = 1;
        else if (!strcmp(argv[i], "--help")) { puts("usage: acme-web [--check] [--port N]"); return 0; }
    }
    if (do_check) return check(port);
    int fds[2] = {listen_on(port), extra ? listen_on(extra) : -1};
    printf("acme-web listening on %d\n", port);
    fflush(stdout);
    for (;;) {
        fd_set set;
        FD_ZERO(&set);
        int top = 0;
        for (int i = 0; i < 2; i++) if (fds[i] >= 0) { FD_SET(fds[i], &set); if (fds[i] > top) top = fds[i]; }
        if (select(top + 1, &set, NULL, NULL, NULL) < 0) continue;
        for (int i = 0; i < 2; i++) {
            if (fds[i] < 0 || !FD_ISSET(fds[i], &set)) continue;
            int c = accept(fds[i], NULL, NULL);
            if (c < 0) continue;
            const char *r = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nok\n";
            if (write(c, r, strlen(r)) < 0) perror("write");
            close(c);
        }
    }
}
