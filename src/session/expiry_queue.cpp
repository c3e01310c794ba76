#include "session/expiry_queue.h"

#include <time.h>

#include <algorithm>

namespace xb::session {

namespace {

int64_t clock_ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000ll + ts.tv_nsec;
}

}  // namespace

void ExpiryQueue::enable(size_t capacity) {
    std::lock_guard lock(mu_);
    if (enabled_) return;
    enabled_ = true;
    capacity_ = std::max<size_t>(capacity, 1);
}

bool ExpiryQueue::enabled() const {
    std::lock_guard lock(mu_);
    return enabled_;
}

void ExpiryQueue::push(const std::vector<ExpiredFlow>& flows) {
    if (flows.empty()) return;
    const int64_t offset = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
    std::lock_guard lock(mu_);
    if (!enabled_) return;
    for (const auto& f : flows) {
        Counts& c = counts_[f.interface];
        if (events_.size() >= capacity_) {
            ++c.dropped;
            continue;
        }
        events_.push_back(QueuedExpiry{f, offset});
        ++c.queued;
    }
}

std::vector<QueuedExpiry> ExpiryQueue::take(size_t max) {
    std::lock_guard lock(mu_);
    size_t n = std::min(max, events_.size());
    std::vector<QueuedExpiry> out(std::make_move_iterator(events_.begin()),
                                  std::make_move_iterator(events_.begin() + static_cast<std::ptrdiff_t>(n)));
    events_.erase(events_.begin(), events_.begin() + static_cast<std::ptrdiff_t>(n));
    return out;
}

ExpiryQueue::Counts ExpiryQueue::counts(const std::string& interface) const {
    std::lock_guard lock(mu_);
    auto it = counts_.find(interface);
    return it == counts_.end() ? Counts{} : it->second;
}

size_t ExpiryQueue::waiting() const {
    std::lock_guard lock(mu_);
    return events_.size();
}

size_t ExpiryQueue::capacity() const {
    std::lock_guard lock(mu_);
    return capacity_;
}

}  // namespace xb::session
