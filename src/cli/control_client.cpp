#include "cli/control_client.h"

#include "cli/inspect.h"
#include "common/file_lock.h"
#include "control/server.h"

namespace xb::cli {

Result<std::string> pick_socket(const std::string& interface) {
    auto ns = current_netns_inode();
    if (!ns) return ns.error();
    if (!interface.empty()) {
        auto holder = lock_holder(interface);
        if (!holder)
            return Error{ENOENT, "XB8201: no xbypass runs on " + interface + " in this network namespace"};
        if (holder->socket.empty())
            return Error{ENOENT, "XB8201: the run on " + interface + " (pid " + std::to_string(holder->pid) +
                                     ") has no control socket"};
        return holder->socket;
    }
    auto all = control::list_sockets(*ns);
    if (all.empty())
        return Error{ENOENT, "XB8201: no running xbypass with a control socket in " + std::string(control::kSocketDir) +
                                 " for this network namespace (start `xbypass run`, or enter its namespace with --netns)"};
    if (all.size() > 1) {
        std::string list;
        for (const auto& s : all) list += (list.empty() ? "" : ", ") + s;
        return Error{EEXIST, "XB8202: several runs answer (" + list + "); choose one with --interface"};
    }
    return all.front();
}

Result<control::JsonValue> call(const std::string& socket, const std::string& request_json) {
    auto reply = control::request(socket, request_json);
    if (!reply) return reply.error();
    auto v = control::JsonValue::parse(*reply);
    if (!v) return Error{EPROTO, "the run's reply is not JSON: " + v.error().message};
    const auto* ok = v->get("ok");
    if (!ok || ok->kind() != control::JsonValue::Kind::Bool) return Error{EPROTO, "the run's reply has no \"ok\""};
    if (!ok->boolean()) {
        std::string code, message;
        if (const auto* e = v->get("error")) {
            if (const auto* c = e->get("code")) code = c->string();
            if (const auto* m = e->get("message")) message = m->string();
        }
        return Error{EINVAL, code + ": " + message};
    }
    const auto* r = v->get("result");
    return r ? *r : control::JsonValue{};
}

}  // namespace xb::cli
