// The handle types behind include/xbypass/plugin.h's opaque pointers, and the C++ side of each call.
// Nothing here crosses the ABI: plugin.cpp turns every result into an XB_ERR_* code and a message.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "capture/capture.h"
#include "capture/transmit.h"
#include "common/diagnostic.h"
#include "common/netns.h"
#include "common/owners.h"
#include "session/startup.h"
#include "xbypass/plugin.h"

struct xb_diagnostics {
    std::vector<xb::Diagnostic> items;
    std::string text;
};

namespace xb::plugin {

// One interface as the engine sees it; strings stay put for xb_interface_get's callers.
struct Interface {
    plan::InterfacePlan plan;
    std::string name, datapath, program, capture, ips_peer;
    uint32_t threads = 0;
    bool can_bypass = false;
    std::vector<bool> thread_open;  // under Plugin::mu
    std::atomic<uint64_t> bypass_accepted{0}, bypass_refused{0};
    std::atomic<uint64_t> captured{0};         // packets handed to the engine, over every handle
    std::atomic<uint64_t> capture_dropped{0};  // ring-full drops published by the handles
    std::atomic<bool> zerocopy_refused{false};  // an AF_XDP zero-copy bind failed: the handles use copy mode
};

}  // namespace xb::plugin

struct xb_plugin {
    std::optional<xb::NetnsHandle> netns;  // where sockets are opened; empty: the opener's
    xb::session::Startup started;
    bool capture = true;
    std::vector<std::unique_ptr<xb::plugin::Interface>> interfaces;

    std::mutex mu;  // thread_open of every interface, captures
    std::set<xb_capture*> captures;

    // The housekeeping thread: leases, stats, expiry, verification (session/upkeep.h).
    std::thread upkeep;
    std::mutex upkeep_mu;
    std::condition_variable upkeep_cv;
    bool stopping = false;

    // The control socket (control/server.h), served by a thread of its own; reloads are serialised.
    std::thread control;
    xb::UniqueFd control_stop;  // an eventfd: written by xb_close
    std::mutex reload_mu;       // xb_reload and the socket's reload; guards started.config
    std::string config_path;
    std::string interface;      // xb_open_opts.interface: reloads narrow to it too

    xb::plugin::Interface* find(const char* name) const;
};

struct xb_capture {
    xb_plugin* plugin = nullptr;
    xb::plugin::Interface* iface = nullptr;
    uint32_t thread = 0;
    std::unique_ptr<xb::capture::Receiver> receiver;
    std::optional<xb::capture::Transmitter> transmitter;  // IPS mode: the peer interface
    std::vector<xb::capture::Packet> batch;
    uint64_t forwarded = 0, forward_failed = 0, verdict_dropped = 0;
    uint64_t published_dropped = 0;  // of the receiver's drops, already added to iface->capture_dropped
    uint64_t last_publish_ns = 0;
};
