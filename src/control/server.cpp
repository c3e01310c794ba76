#include "control/server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <dirent.h>

#include <algorithm>

#include "common/log.h"

namespace xb::control {

std::string socket_path(unsigned long netns_inode, pid_t pid) {
    return std::string(kSocketDir) + "/" + std::to_string(netns_inode) + "-" + std::to_string(pid) + ".sock";
}

namespace {

Result<sockaddr_un> make_addr(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) return Error{ENAMETOOLONG, "socket path too long: " + path};
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}

Result<UniqueFd> connect_to(const std::string& path) {
    auto addr = make_addr(path);
    if (!addr) return addr.error();
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return Error::from_errno(errno, "socket");
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0)
        return Error::from_errno(errno, "cannot connect to " + path);
    return fd;
}

}  // namespace

Result<Server> Server::listen(const std::string& path, Handler handler) {
    auto addr = make_addr(path);
    if (!addr) return addr.error();
    std::string dir = path.substr(0, path.rfind('/'));
    if (!dir.empty() && mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        return Error::from_errno(errno, "cannot create " + dir);
    if (access(path.c_str(), F_OK) == 0) {
        if (connect_to(path)) return Error{EADDRINUSE, "a live control socket is already at " + path};
        unlink(path.c_str());  // stale: its run is gone
    }
    Server s;
    s.path_ = path;
    s.handler_ = std::move(handler);
    s.listen_fd_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s.listen_fd_) return Error::from_errno(errno, "socket");
    // Created 0600 from the start: no window where another user could connect.
    mode_t old = umask(0177);
    int rc = bind(s.listen_fd_.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
    int err = errno;
    umask(old);
    if (rc != 0) return Error::from_errno(err, "cannot bind " + path);
    s.unlink_ = true;
    if (chmod(path.c_str(), 0600) != 0 || ::listen(s.listen_fd_.get(), 64) != 0)
        return Error::from_errno(errno, "cannot listen on " + path);
    return s;
}

Server::~Server() {
    if (unlink_ && !path_.empty()) unlink(path_.c_str());
}

void Server::accept_clients() {
    for (;;) {
        UniqueFd fd(accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!fd) return;
        ucred cred{};
        socklen_t len = sizeof cred;
        if (getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || (cred.uid != 0 && cred.uid != getuid())) {
            std::string reply = error_reply("XB8007", "only root or the run's own user may use its control socket") + "\n";
            (void)!send(fd.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
            log_event(LogLevel::Warning, "control", "XB8007", "refused a control client of uid " + std::to_string(cred.uid));
            continue;
        }
        if (clients_.size() >= kMaxClients) {
            std::string reply = error_reply(kErrBusy, "too many control clients (" + std::to_string(kMaxClients) +
                                                          "); try again") + "\n";
            (void)!send(fd.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
            continue;
        }
        Client c;
        c.fd = std::move(fd);
        clients_.push_back(std::move(c));
    }
}

void Server::read_client(Client& c) {
    char buf[16384];
    // A fair share per wake-up, so that one busy client does not starve the others.
    for (size_t taken = 0; taken < 16 * sizeof buf; taken += sizeof buf) {
        ssize_t n = read(c.fd.get(), buf, sizeof buf);
        if (n == 0) { c.closing = true; break; }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) c.closing = true, c.out.clear();
            break;
        }
        c.in.append(buf, static_cast<size_t>(n));
        // Serve every complete line; a line that grows past the limit is answered and the client dropped.
        size_t nl;
        while (!c.in.empty() && (nl = c.in.find('\n')) != std::string::npos) {
            std::string line = c.in.substr(0, nl);
            c.in.erase(0, nl + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.find_first_not_of(" \t") == std::string::npos) continue;
            std::string reply;
            auto parsed = parse_request(line);
            if (auto* e = std::get_if<ProtocolError>(&parsed)) reply = error_reply(e->code, e->message, e->id_json);
            else reply = handler_(std::get<Request>(parsed));
            c.out += reply + "\n";
        }
        if (c.in.size() > kMaxRequestBytes) {
            c.out += error_reply(kErrOversized, "the request is longer than " + std::to_string(kMaxRequestBytes) +
                                                    " bytes; closing the connection") + "\n";
            c.in.clear();
            c.closing = true;
            break;
        }
    }
}

void Server::write_client(Client& c) {
    while (!c.out.empty()) {
        ssize_t n = send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) c.out.clear(), c.closing = true;
            return;
        }
        c.out.erase(0, static_cast<size_t>(n));
    }
}

size_t Server::serve_once(int timeout_ms, std::vector<pollfd>* extra) {
    std::vector<pollfd> fds;
    size_t nextra = extra ? extra->size() : 0;
    if (extra) fds = *extra;
    fds.push_back({listen_fd_.get(), POLLIN, 0});
    for (auto& c : clients_)
        // A client that does not read its replies is not read from until it has (bounded memory).
        fds.push_back({c.fd.get(),
                       static_cast<short>((c.closing || c.out.size() > kMaxPendingReplyBytes ? 0 : POLLIN) |
                                          (c.out.empty() ? 0 : POLLOUT)),
                       0});
    int n = poll(fds.data(), fds.size(), timeout_ms);
    if (extra)
        for (size_t i = 0; i < nextra; ++i) (*extra)[i].revents = n > 0 ? fds[i].revents : 0;
    if (n <= 0) return 0;
    // Clients first (their indexes match fds), then new connections.
    size_t served = 0;
    for (size_t i = 0; i < clients_.size(); ++i) {
        short rev = fds[nextra + 1 + i].revents;
        Client& c = clients_[i];
        if (rev & (POLLIN | POLLHUP | POLLERR)) {
            size_t before = c.out.size();
            read_client(c);
            if (c.out.size() != before) ++served;
        }
        if (!c.out.empty()) write_client(c);
    }
    std::erase_if(clients_, [](const Client& c) { return c.closing && c.out.empty(); });
    if (fds[nextra].revents & POLLIN) accept_clients();
    return served;
}

Result<std::string> request(const std::string& path, const std::string& line, int timeout_ms) {
    auto fd = connect_to(path);
    if (!fd) return fd.error();
    std::string out = line + "\n";
    size_t off = 0;
    while (off < out.size()) {
        ssize_t n = send(fd->get(), out.data() + off, out.size() - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EPIPE || errno == ECONNRESET) break;  // refused: its error reply may be there to read
            return Error::from_errno(errno, "cannot write to " + path);
        }
        off += static_cast<size_t>(n);
    }
    std::string in;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[65536];
    for (;;) {
        size_t nl = in.find('\n');
        if (nl != std::string::npos) return in.substr(0, nl);
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) return Error{ETIMEDOUT, "no reply from " + path};
        pollfd p{fd->get(), POLLIN, 0};
        int r = poll(&p, 1, static_cast<int>(left));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        ssize_t n = read(fd->get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Error{ECONNRESET, "the run closed its control socket " + path + " without a reply"};
        in.append(buf, static_cast<size_t>(n));
    }
}

namespace {

// Socket files of this namespace: (path, whether a run accepts on it).
std::vector<std::pair<std::string, bool>> scan_sockets(unsigned long netns_inode) {
    std::vector<std::pair<std::string, bool>> out;
    DIR* d = opendir(kSocketDir);
    if (!d) return out;
    std::string prefix = std::to_string(netns_inode) + "-";
    while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name.rfind(prefix, 0) != 0 || name.size() < 5 || name.substr(name.size() - 5) != ".sock") continue;
        std::string path = std::string(kSocketDir) + "/" + name;
        auto fd = connect_to(path);
        out.emplace_back(path, static_cast<bool>(fd));
    }
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

std::vector<std::string> list_sockets(unsigned long netns_inode) {
    std::vector<std::string> out;
    for (const auto& [path, live] : scan_sockets(netns_inode))
        if (live) out.push_back(path);
    return out;
}

std::vector<std::string> remove_stale_sockets(unsigned long netns_inode) {
    std::vector<std::string> out;
    for (const auto& [path, live] : scan_sockets(netns_inode)) {
        if (live) continue;
        struct stat st{};
        if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && unlink(path.c_str()) == 0) out.push_back(path);
    }
    return out;
}

}  // namespace xb::control
