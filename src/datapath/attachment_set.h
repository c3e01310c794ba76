// All attachments of a run, all or nothing (see attach.h and dispatcher.h for the kinds).
#pragma once

#include <variant>
#include <vector>

#include "datapath/attach.h"
#include "datapath/dispatcher.h"

namespace xb::datapath {

// All-or-nothing: attachments are kept in order; destroying the set (or rollback()) detaches them
// in reverse. A caller that has attached everything calls nothing special: the set lives as long as
// the datapath runs.
class AttachmentSet {
public:
    AttachmentSet() = default;
    AttachmentSet(AttachmentSet&&) noexcept = default;
    AttachmentSet& operator=(AttachmentSet&&) noexcept = default;
    ~AttachmentSet() { (void)rollback(); }

    void add(XdpAttachment a) { items_.emplace_back(std::move(a)); }
    void add(TcAttachment a) { items_.emplace_back(std::move(a)); }
    void add(DispatcherAttachment a) { items_.emplace_back(std::move(a)); }
    // Verifies every attachment; the first failure is returned.
    Status verify_all() const;
    // Detaches everything; what could not be detached (our program stays attached) is returned.
    // Another tool's program found in our place stays attached; one sentence per such place is
    // appended to `left_theirs` if given (XB5022).
    std::vector<Error> rollback(std::vector<std::string>* left_theirs = nullptr);
    // The attachment on ifindex, whatever its kind; null when there is none.
    std::variant<XdpAttachment, TcAttachment, DispatcherAttachment>* find(int ifindex) {
        for (auto& it : items_) {
            int at = std::visit([](auto& a) { return a.ifindex(); }, it);
            if (at == ifindex) return &it;
        }
        return nullptr;
    }
    size_t size() const { return items_.size(); }
    // Live changes (reload): swap the program of the XDP or tc attachment on ifindex atomically
    // (ENOTSUP for a dispatcher component), or detach and forget it.
    Status replace_program(int ifindex, int new_prog_fd);
    Status remove(int ifindex, std::string* left_theirs = nullptr);
    // Moves every attachment of `other` to the end of this set.
    void take(AttachmentSet&& other) {
        for (auto& i : other.items_) items_.push_back(std::move(i));
        other.items_.clear();
    }

private:
    std::vector<std::variant<XdpAttachment, TcAttachment, DispatcherAttachment>> items_;
};

}  // namespace xb::datapath
