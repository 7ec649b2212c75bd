/* acme-hello: the smallest product a vendor could submit. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        puts("usage: acme-hello [--help]\nPrints a greeting.");
        return 0;
    }
    puts("Hello from ACME!");
    return 0;
}
