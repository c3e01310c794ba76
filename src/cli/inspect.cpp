#include "cli/inspect.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/file_lock.h"
#include "common/owners.h"
#include "control/json_value.h"
#include "control/server.h"
#include "datapath/attach.h"
#include "datapath/kernel_clock.h"
#include "datapath/manifest.h"
#include "session/session.h"
#include "probe/probe.h"

namespace xb::cli {

std::string LeaseState::text() const {
    if (!known) return "unknown";
    if (!until) return "none (bypasses for as long as it runs)";
    if (seconds_left > 0) return "held, " + std::to_string(seconds_left) + " s left";
    return "lapsed " + std::to_string(-seconds_left) + " s ago: nothing is bypassed, every packet reaches user space";
}

bool is_builtin_program(const std::string& name) { return datapath::find_manifest(name) != nullptr; }

std::string SuricataPairing::text() const {
    std::string out;
    if (state == "paired") out = "paired with " + process + " (pid " + std::to_string(pid) + ")";
    else if (state == "waiting") out = "waiting for Suricata: nothing is bypassed until one holds the maps";
    else if (state == "failed-open") out = "failed open: the Suricata that held the maps is gone, nothing is bypassed";
    else out = state;
    if (!since.empty()) out += ", since " + since;
    out += "; entries v4 " + std::to_string(entries_v4) + ", v6 " + std::to_string(entries_v6) + ", " +
           std::to_string(packets) + " packets and " + std::to_string(bytes) + " bytes bypassed into them";
    return out;
}

namespace {

// The lease of a program of ours: xb_lease_until in its .bss map, found through the program's map ids.
LeaseState read_lease(uint32_t prog_id) {
    LeaseState l;
    UniqueFd prog(bpf_prog_get_fd_by_id(prog_id));
    if (!prog) return l;
    uint32_t ids[64] = {};
    bpf_prog_info info{};
    info.nr_map_ids = 64;
    info.map_ids = reinterpret_cast<uint64_t>(ids);
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(prog.get(), &info, &len) != 0) return l;
    for (uint32_t i = 0; i < std::min<uint32_t>(info.nr_map_ids, 64); ++i) {
        UniqueFd map(bpf_map_get_fd_by_id(ids[i]));
        if (!map) continue;
        bpf_map_info mi{};
        uint32_t mlen = sizeof mi;
        if (bpf_obj_get_info_by_fd(map.get(), &mi, &mlen) != 0) continue;
        std::string name = mi.name;
        if (name.size() < 4 || name.substr(name.size() - 4) != ".bss" || mi.value_size != sizeof(uint64_t)) continue;
        uint32_t zero = 0;
        uint64_t until = 0;
        if (bpf_map_lookup_elem(map.get(), &zero, &until) != 0) return l;
        l.known = true;
        l.until = until;
        if (!until) return l;
        static auto clock = datapath::KernelClock::load();
        if (!clock || !*clock) return l;
        auto now = (*clock)->sample();
        if (!now || !now->hz) {
            l.known = false;
            return l;
        }
        int64_t diff = static_cast<int64_t>(until) - static_cast<int64_t>(now->jiffies);
        l.seconds_left = diff / static_cast<int64_t>(now->hz);
        if (diff > 0 && l.seconds_left == 0) l.seconds_left = 1;
        return l;
    }
    return l;
}

SuricataPairing suricata_pairing(const control::JsonValue& o) {
    auto str = [&](const char* k) {
        const auto* v = o.get(k);
        return v && v->kind() == control::JsonValue::Kind::String ? v->string() : std::string();
    };
    auto num = [&](const char* k) -> uint64_t {
        const auto* v = o.get(k);
        return v && v->kind() == control::JsonValue::Kind::Number && v->number() > 0 ? static_cast<uint64_t>(v->number()) : 0;
    };
    SuricataPairing p;
    p.state = str("state");
    p.pid = static_cast<int64_t>(num("pid"));
    p.process = str("process");
    p.since = str("since");
    p.entries_v4 = num("entries-v4");
    p.entries_v6 = num("entries-v6");
    p.packets = num("packets");
    p.bytes = num("bytes");
    return p;
}

}  // namespace

std::optional<RunInfo> lock_holder(const std::string& interface) {
    auto ns = current_netns_inode();
    if (!ns) return std::nullopt;
    std::string path = session::interface_lock_path(*ns, interface);
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return std::nullopt;
    if (flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return std::nullopt;  // nobody holds it: a leftover file
    if (errno != EWOULDBLOCK) return std::nullopt;
    char buf[32] = {};
    ssize_t n = pread(fd.get(), buf, sizeof buf - 1, 0);
    RunInfo r;
    r.pid = n > 0 ? static_cast<pid_t>(std::strtol(buf, nullptr, 10)) : 0;
    if (r.pid > 0) {
        r.socket = control::socket_path(*ns, r.pid);
        if (auto reply = control::request(r.socket, "{\"cmd\":\"status\"}", 2000)) {
            if (auto v = control::JsonValue::parse(*reply); v && v->get("result")) {
                if (const auto* c = v->get("result")->get("config"); c && c->kind() == control::JsonValue::Kind::String)
                    r.config = c->string();
                if (const auto* list = v->get("result")->get("interfaces"); list && list->kind() == control::JsonValue::Kind::Array)
                    for (const auto& i : list->array())
                        if (const auto* n = i.get("name"); n && n->kind() == control::JsonValue::Kind::String &&
                                                           n->string() == interface)
                            if (const auto* sp = i.get("suricata")) r.suricata = suricata_pairing(*sp);
            }
        } else {
            r.socket.clear();
        }
    }
    return r;
}

Result<std::vector<Attached>> inspect(const std::string& interface) {
    std::vector<probe::InterfaceCaps> ifaces;
    if (interface.empty()) {
        auto all = probe::probe_all_interfaces();
        if (!all) return all.error();
        ifaces = std::move(all).value();
    } else {
        auto one = probe::probe_interface(interface);
        if (!one) return one.error();
        ifaces.push_back(std::move(one).value());
    }
    std::vector<Attached> out;
    for (const auto& c : ifaces) {
        std::optional<std::optional<RunInfo>> holder;  // looked up once per interface
        auto fill = [&](Attached& a) {
            a.interface = c.name;
            a.ifindex = c.ifindex;
            a.ours = is_builtin_program(a.prog_name);
            if (a.ours) {
                a.lease = read_lease(a.prog_id);
                struct stat st{};
                a.pinned = stat(("/sys/fs/bpf/xbypass/" + c.name).c_str(), &st) == 0;
                if (!holder) holder = lock_holder(c.name);
                a.run = *holder;
            }
        };
        for (const auto& x : c.xdp) {
            Attached a;
            a.hook = "xdp";
            a.mode = std::string(probe::xdp_attach_mode_name(x.mode));
            a.prog_id = x.prog_id;
            a.prog_name = x.prog_name;
            a.via = std::string(probe::attached_via_name(x.via));
            fill(a);
            out.push_back(std::move(a));
        }
        for (const auto& f : c.tc_filters) {
            Attached a;
            a.hook = "tc";
            a.mode = std::string(probe::tc_direction_name(f.direction));
            a.prog_id = f.prog_id;
            a.prog_name = f.kind == "bpf" ? f.prog_name : f.kind;
            a.tc_handle = f.handle;
            a.tc_priority = f.priority;
            a.at_our_handle = f.handle == datapath::kTcHandle && f.priority == datapath::kTcPriority;
            char via[64];
            std::snprintf(via, sizeof via, "handle 0x%x prio 0x%x", f.handle, f.priority);
            a.via = via;
            fill(a);
            if (f.kind != "bpf") a.ours = false;
            out.push_back(std::move(a));
        }
    }
    return out;
}

}  // namespace xb::cli
