#include "common/owners.h"

#include <bpf/libbpf.h>

namespace xb {

void BpfObjectCloser::operator()(bpf_object* obj) const { bpf_object__close(obj); }
void BpfLinkDestroyer::operator()(bpf_link* link) const { bpf_link__destroy(link); }

}  // namespace xb
