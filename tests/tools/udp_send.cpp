// xb-udp-send: sends UDP datagrams of one flow (fixed source and destination address and port) from
// inside a network namespace, for the quickstart and manual tests. Only the network namespace is
// entered (setns), like xbypass itself.
//   xb-udp-send [--netns NAME] SRC_IP SRC_PORT DST_IP DST_PORT COUNT [INTERVAL_US]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "common/netns.h"

int main(int argc, char** argv) {
    int i = 1;
    std::optional<xb::ScopedNetns> ns;
    if (argc > 2 && std::strcmp(argv[1], "--netns") == 0) {
        auto entered = xb::ScopedNetns::enter_named(argv[2]);
        if (!entered) {
            std::fprintf(stderr, "xb-udp-send: %s\n", entered.error().message.c_str());
            return 2;
        }
        ns.emplace(std::move(entered).value());
        i = 3;
    }
    if (argc - i < 5) {
        std::fprintf(stderr, "usage: xb-udp-send [--netns NAME] SRC_IP SRC_PORT DST_IP DST_PORT COUNT [INTERVAL_US]\n");
        return 2;
    }
    sockaddr_in src{}, dst{};
    src.sin_family = dst.sin_family = AF_INET;
    if (inet_pton(AF_INET, argv[i], &src.sin_addr) != 1 || inet_pton(AF_INET, argv[i + 2], &dst.sin_addr) != 1) {
        std::fprintf(stderr, "xb-udp-send: addresses must be IPv4\n");
        return 2;
    }
    src.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[i + 1])));
    dst.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[i + 3])));
    long count = std::atol(argv[i + 4]);
    long interval_us = argc - i > 5 ? std::atol(argv[i + 5]) : 1000;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
        std::fprintf(stderr, "xb-udp-send: bind: %s\n", std::strerror(errno));
        return 1;
    }
    const char payload[] = "xbypass quickstart payload";
    long sent = 0;
    for (long n = 0; n < count; ++n) {
        if (sendto(fd, payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) > 0) ++sent;
        if (interval_us > 0) usleep(static_cast<useconds_t>(interval_us));
    }
    close(fd);
    std::printf("sent %ld of %ld datagrams %s:%s -> %s:%s\n", sent, count, argv[i], argv[i + 1], argv[i + 2], argv[i + 3]);
    return sent == count ? 0 : 1;
}
