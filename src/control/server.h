// The control socket of a run: a unix stream socket under /run/xbypass (mode 0600), peers checked
// with SO_PEERCRED (root or the run's own uid), one JSON request per line and one reply per line.
// Served by a poll loop the owner drives (`xbypass run`'s main loop, the plugin's control thread):
// every client at once up to kMaxClients; a malformed, oversized or unknown request gets an error
// reply and never stops the server.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "common/owners.h"
#include "common/result.h"
#include "control/protocol.h"

namespace xb::control {

inline constexpr size_t kMaxClients = 64;
inline constexpr size_t kMaxPendingReplyBytes = 8 << 20;  // unread replies per client before it is not read
inline constexpr const char* kSocketDir = "/run/xbypass";

// /run/xbypass/<netns inode>-<pid>.sock
std::string socket_path(unsigned long netns_inode, pid_t pid);

// What the owner does with a request: returns the reply line (ok_reply / error_reply).
using Handler = std::function<std::string(const Request&)>;

class Server {
public:
    // Binds and listens at path (a stale socket file there is replaced; a live one is refused).
    static Result<Server> listen(const std::string& path, Handler handler);
    Server(Server&&) noexcept = default;
    Server& operator=(Server&&) noexcept = default;
    ~Server();

    // Waits up to timeout_ms for clients (and for `extra` fds, whose revents are filled in), and
    // serves every complete request line that arrived. Returns how many requests were handled.
    size_t serve_once(int timeout_ms, std::vector<pollfd>* extra = nullptr);
    const std::string& path() const { return path_; }
    size_t clients() const { return clients_.size(); }

private:
    struct Client {
        UniqueFd fd;
        std::string in, out;
        bool closing = false;  // close once `out` is written
    };
    Server() = default;
    void accept_clients();
    void read_client(Client& c);
    void write_client(Client& c);

    std::string path_;
    UniqueFd listen_fd_;
    Handler handler_;
    std::vector<Client> clients_;
    bool unlink_ = false;
};

// Client side: one request, one reply (with a timeout).
Result<std::string> request(const std::string& path, const std::string& line, int timeout_ms = 30000);

// The control sockets of live runs in the current network namespace (the ones that accept).
std::vector<std::string> list_sockets(unsigned long netns_inode);
// Removes the socket files of runs of this namespace that are gone (connection refused); returns them.
std::vector<std::string> remove_stale_sockets(unsigned long netns_inode);

}  // namespace xb::control
