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
    ~AttachmentSet() { rollback(); }

    void add(XdpAttachment a) { items_.emplace_back(std::move(a)); }
    void add(TcAttachment a) { items_.emplace_back(std::move(a)); }
    void add(DispatcherAttachment a) { items_.emplace_back(std::move(a)); }
    // Verifies every attachment; the first failure is returned.
    Status verify_all() const;
    void rollback();
    // The attachment on ifindex, whatever its kind; null when there is none.
    std::variant<XdpAttachment, TcAttachment, DispatcherAttachment>* find(int ifindex) {
        for (auto& it : items_) {
            int at = std::visit([](auto& a) { return a.ifindex(); }, it);
            if (at == ifindex) return &it;
        }
        return nullptr;
    }
    size_t size() const { return items_.size(); }

private:
    std::vector<std::variant<XdpAttachment, TcAttachment, DispatcherAttachment>> items_;
};

}  // namespace xb::datapath
