#include "datapath/insn_reader.h"

#include <bpf/libbpf.h>
#include <elf.h>
#include <linux/pkt_cls.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "common/input_file.h"
#include "common/owners.h"

namespace xb::datapath {

std::string helper_name(int id) {
#define XB_HELPER_NAME(x) "bpf_" #x
    static const char* const names[] = {__BPF_FUNC_MAPPER(XB_HELPER_NAME)};
#undef XB_HELPER_NAME
    if (id > 0 && static_cast<size_t>(id) < sizeof names / sizeof names[0]) return names[id];
    return "helper#" + std::to_string(id);
}

std::string_view map_type_name(enum bpf_map_type type) {
    const char* s = libbpf_bpf_map_type_str(type);
    return s ? s : "unknown";
}

std::vector<enum bpf_map_type> ProgramInsns::map_types() const {
    std::set<enum bpf_map_type> s;
    for (const auto& m : maps) s.insert(m.type);
    return {s.begin(), s.end()};
}

bool ProgramInsns::returns_only_constants() const {
    for (const auto& u : undetermined)
        if (u.find("return value") != std::string::npos) return false;
    return true;
}

namespace {

// The parts of the ELF file libbpf keeps to itself before load: sections, symbols, relocations.
class ElfView {
public:
    static Result<ElfView> parse(std::vector<uint8_t> bytes, std::string_view name) {
        ElfView v;
        v.bytes_ = std::move(bytes);
        const auto& b = v.bytes_;
        auto bad = [&](const std::string& why) { return Error{EINVAL, std::string(name) + ": " + why}; };
        if (b.size() < sizeof(Elf64_Ehdr) || std::memcmp(b.data(), ELFMAG, SELFMAG) != 0)
            return bad("not an ELF file");
        Elf64_Ehdr eh;
        std::memcpy(&eh, b.data(), sizeof eh);
        if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_BPF) return bad("not a 64-bit BPF ELF object");
        if (eh.e_ident[EI_DATA] != ELFDATA2LSB) return bad("big-endian BPF objects are not supported");
        if (eh.e_shoff == 0 || eh.e_shentsize != sizeof(Elf64_Shdr) ||
            eh.e_shoff + static_cast<uint64_t>(eh.e_shnum) * sizeof(Elf64_Shdr) > b.size())
            return bad("section header table is truncated");
        v.sections_.resize(eh.e_shnum);
        std::memcpy(v.sections_.data(), b.data() + eh.e_shoff, eh.e_shnum * sizeof(Elf64_Shdr));
        for (const auto& s : v.sections_)
            if (s.sh_type != SHT_NOBITS && s.sh_offset + s.sh_size > b.size()) return bad("a section is truncated");
        if (eh.e_shstrndx >= eh.e_shnum) return bad("no section name table");
        v.shstrtab_ = eh.e_shstrndx;
        for (size_t i = 0; i < v.sections_.size(); ++i) {
            const auto& s = v.sections_[i];
            if (s.sh_type == SHT_SYMTAB && s.sh_link < v.sections_.size()) {
                size_t n = s.sh_size / sizeof(Elf64_Sym);
                v.symbols_.resize(n);
                std::memcpy(v.symbols_.data(), b.data() + s.sh_offset, n * sizeof(Elf64_Sym));
                v.strtab_ = s.sh_link;
            }
        }
        for (size_t i = 0; i < v.sections_.size(); ++i) {
            const auto& s = v.sections_[i];
            if (s.sh_type != SHT_REL || s.sh_info >= v.sections_.size()) continue;
            size_t n = s.sh_size / sizeof(Elf64_Rel);
            for (size_t k = 0; k < n; ++k) {
                Elf64_Rel r;
                std::memcpy(&r, b.data() + s.sh_offset + k * sizeof r, sizeof r);
                v.relocs_[s.sh_info][r.r_offset] = static_cast<uint32_t>(ELF64_R_SYM(r.r_info));
            }
        }
        return v;
    }

    std::string section_name(size_t idx) const {
        if (idx >= sections_.size()) return {};
        return cstr(shstrtab_, sections_[idx].sh_name);
    }
    std::string symbol_name(const Elf64_Sym& s) const { return cstr(strtab_, s.st_name); }
    const Elf64_Sym* symbol(uint32_t idx) const { return idx < symbols_.size() ? &symbols_[idx] : nullptr; }

    // The function symbol called name (a program or a subprogram).
    const Elf64_Sym* function(std::string_view name) const {
        for (const auto& s : symbols_)
            if (ELF64_ST_TYPE(s.st_info) == STT_FUNC && symbol_name(s) == name) return &s;
        return nullptr;
    }
    // The function symbol at a byte offset of a section.
    const Elf64_Sym* function_at(size_t section, uint64_t offset) const {
        for (const auto& s : symbols_)
            if (ELF64_ST_TYPE(s.st_info) == STT_FUNC && s.st_shndx == section && s.st_value == offset) return &s;
        return nullptr;
    }
    // Symbol index relocated at a byte offset of a section, if any.
    std::optional<uint32_t> reloc_at(size_t section, uint64_t offset) const {
        auto sit = relocs_.find(section);
        if (sit == relocs_.end()) return std::nullopt;
        auto it = sit->second.find(offset);
        if (it == sit->second.end()) return std::nullopt;
        return it->second;
    }
    // Instructions of a function, straight from its section.
    std::vector<bpf_insn> insns_of(const Elf64_Sym& f) const {
        std::vector<bpf_insn> out;
        if (f.st_shndx >= sections_.size()) return out;
        const auto& s = sections_[f.st_shndx];
        if (s.sh_type == SHT_NOBITS || f.st_value + f.st_size > s.sh_size) return out;
        out.resize(f.st_size / sizeof(bpf_insn));
        std::memcpy(out.data(), bytes_.data() + s.sh_offset + f.st_value, out.size() * sizeof(bpf_insn));
        return out;
    }

private:
    std::string cstr(size_t section, size_t offset) const {
        if (section >= sections_.size()) return {};
        const auto& s = sections_[section];
        if (offset >= s.sh_size) return {};
        const char* p = reinterpret_cast<const char*>(bytes_.data() + s.sh_offset + offset);
        return std::string(p, strnlen(p, s.sh_size - offset));
    }

    std::vector<uint8_t> bytes_;
    std::vector<Elf64_Shdr> sections_;
    std::vector<Elf64_Sym> symbols_;
    size_t shstrtab_ = 0, strtab_ = 0;
    std::map<size_t, std::map<uint64_t, uint32_t>> relocs_;  // section -> offset -> symbol
};

constexpr uint8_t insn_class(const bpf_insn& i) { return i.code & 0x07; }
constexpr uint8_t insn_op(const bpf_insn& i) { return i.code & 0xf0; }
constexpr bool is_ld_imm64(const bpf_insn& i) { return i.code == (BPF_LD | BPF_DW | BPF_IMM); }
constexpr bool is_call(const bpf_insn& i) { return i.code == (BPF_JMP | BPF_CALL); }
constexpr bool is_exit(const bpf_insn& i) { return i.code == (BPF_JMP | BPF_EXIT); }
constexpr bool is_jump_class(const bpf_insn& i) { return insn_class(i) == BPF_JMP || insn_class(i) == BPF_JMP32; }

// The set of constants a register may hold, or "unknown" (nullopt).
using Value = std::optional<std::set<int64_t>>;
constexpr size_t kMaxValues = 16;
using RegState = std::array<Value, MAX_BPF_REG>;

Value constant(int64_t v) { return std::set<int64_t>{v}; }

bool merge_into(Value& into, const Value& from) {
    if (!into) return false;
    if (!from) {
        into.reset();
        return true;
    }
    size_t before = into->size();
    into->insert(from->begin(), from->end());
    if (into->size() > kMaxValues) {
        into.reset();
        return true;
    }
    return into->size() != before;
}

// What r0 holds after a helper call, when the helper's result is one of a few constants.
Value helper_result(int helper, const RegState& regs, enum bpf_prog_type type) {
    bool xdp = type == BPF_PROG_TYPE_XDP;
    if (helper == BPF_FUNC_redirect_map && xdp) {
        // XDP_REDIRECT, or the action in the low bits of the flags when the slot is empty
        if (!regs[BPF_REG_3]) return std::nullopt;
        std::set<int64_t> v{XDP_REDIRECT};
        for (int64_t f : *regs[BPF_REG_3]) v.insert(f & 0x3);
        return v;
    }
    if (helper == BPF_FUNC_redirect)
        return xdp ? std::set<int64_t>{XDP_REDIRECT, XDP_ABORTED} : std::set<int64_t>{TC_ACT_REDIRECT, TC_ACT_SHOT};
    return std::nullopt;
}

// Forward constant propagation over the control-flow graph; returns the values r0 may hold at each
// exit, and notes exits whose value is computed.
void find_return_codes(const std::vector<bpf_insn>& insns, enum bpf_prog_type type, ProgramInsns& out) {
    const size_t n = insns.size();
    std::vector<std::optional<RegState>> in(n);
    std::vector<size_t> work;
    if (n == 0) return;
    in[0] = RegState{};  // r1 = ctx, r10 = frame pointer: unknown
    for (auto& r : *in[0]) r.reset();
    work.push_back(0);
    std::set<int64_t> codes;
    std::set<size_t> computed_exits;

    auto flow_to = [&](size_t target, const RegState& st) {
        if (target >= n) return;
        if (!in[target]) {
            in[target] = st;
            work.push_back(target);
            return;
        }
        bool changed = false;
        for (size_t r = 0; r < st.size(); ++r) changed |= merge_into((*in[target])[r], st[r]);
        if (changed) work.push_back(target);
    };

    while (!work.empty()) {
        size_t pc = work.back();
        work.pop_back();
        RegState st = *in[pc];
        const bpf_insn& i = insns[pc];
        uint8_t cls = insn_class(i);
        size_t next = pc + 1;
        if (cls == BPF_ALU || cls == BPF_ALU64) {
            Value& dst = st[i.dst_reg % MAX_BPF_REG];
            if (insn_op(i) == BPF_MOV && i.off == 0) {
                if ((i.code & BPF_X) == 0) {
                    dst = constant(cls == BPF_ALU ? static_cast<int64_t>(static_cast<uint32_t>(i.imm)) : i.imm);
                } else {
                    Value src = st[i.src_reg % MAX_BPF_REG];
                    if (src && cls == BPF_ALU) {
                        std::set<int64_t> t;
                        for (int64_t v : *src) t.insert(static_cast<uint32_t>(v));
                        src = t;
                    }
                    dst = src;
                }
            } else {
                dst.reset();
            }
        } else if (is_ld_imm64(i)) {
            if (i.src_reg == 0 && pc + 1 < n)
                st[i.dst_reg % MAX_BPF_REG] =
                    constant(static_cast<int64_t>((static_cast<uint64_t>(static_cast<uint32_t>(insns[pc + 1].imm)) << 32) |
                                                  static_cast<uint32_t>(i.imm)));
            else
                st[i.dst_reg % MAX_BPF_REG].reset();
            next = pc + 2;
        } else if (cls == BPF_LD || cls == BPF_LDX) {
            st[i.dst_reg % MAX_BPF_REG].reset();
            if (cls == BPF_LD) st[BPF_REG_0].reset();  // legacy packet loads write r0
        } else if (cls == BPF_STX && (i.code & 0xe0) == BPF_ATOMIC) {
            if (i.imm & BPF_FETCH) st[i.src_reg % MAX_BPF_REG].reset();
            if (i.imm == BPF_CMPXCHG) st[BPF_REG_0].reset();
        } else if (is_call(i)) {
            Value r0 = i.src_reg == 0 ? helper_result(i.imm, st, type) : std::nullopt;
            for (int r = BPF_REG_0; r <= BPF_REG_5; ++r) st[r].reset();
            st[BPF_REG_0] = r0;
        } else if (is_exit(i)) {
            if (st[BPF_REG_0]) codes.insert(st[BPF_REG_0]->begin(), st[BPF_REG_0]->end());
            else computed_exits.insert(pc);
            continue;
        } else if (is_jump_class(i)) {
            int64_t offset = (cls == BPF_JMP32 && insn_op(i) == BPF_JA) ? i.imm : i.off;
            flow_to(static_cast<size_t>(static_cast<int64_t>(pc) + offset + 1), st);
            if (insn_op(i) == BPF_JA) continue;  // unconditional
        }
        flow_to(next, st);
    }
    out.return_codes.assign(codes.begin(), codes.end());
    for (size_t pc : computed_exits)
        out.undetermined.push_back("the return value at instruction " + std::to_string(pc) +
                                   " is computed at run time");
}

struct Reader {
    const ElfView& elf;
    bpf_object* obj;
    std::set<int> helpers;
    std::map<std::string, MapReference> maps;
    std::set<std::string> visited;
    ProgramInsns* out;

    // Helpers, maps and subprogram calls of one function (insns: its instructions; sym: its symbol).
    void scan(const std::vector<bpf_insn>& insns, const Elf64_Sym& sym) {
        const size_t section = sym.st_shndx;
        for (size_t pc = 0; pc < insns.size(); ++pc) {
            const bpf_insn& i = insns[pc];
            uint64_t offset = sym.st_value + pc * sizeof(bpf_insn);
            auto rel = elf.reloc_at(section, offset);
            if (is_call(i) && i.src_reg == 0) {
                helpers.insert(i.imm);
            } else if (is_call(i) && i.src_reg == BPF_PSEUDO_KFUNC_CALL) {
                const Elf64_Sym* s = rel ? elf.symbol(*rel) : nullptr;
                out->undetermined.push_back("instruction " + std::to_string(pc) + " calls the kernel function " +
                                            (s ? elf.symbol_name(*s) : std::string("?")) +
                                            ", whose availability is not checked");
            } else if ((is_call(i) && i.src_reg == BPF_PSEUDO_CALL) ||
                       (is_ld_imm64(i) && i.src_reg == BPF_PSEUDO_FUNC)) {
                follow_subprogram(i, pc, sym, rel);
            } else if (is_ld_imm64(i) && rel) {
                note_data_reference(*rel, pc);
            }
            if (is_ld_imm64(i)) ++pc;
        }
    }

    void follow_subprogram(const bpf_insn& i, size_t pc, const Elf64_Sym& caller, std::optional<uint32_t> rel) {
        const Elf64_Sym* target = nullptr;
        if (rel) {
            const Elf64_Sym* s = elf.symbol(*rel);
            if (s && ELF64_ST_TYPE(s->st_info) == STT_FUNC) target = s;
            else if (s && ELF64_ST_TYPE(s->st_info) == STT_SECTION)
                target = elf.function_at(s->st_shndx, static_cast<uint64_t>((static_cast<int64_t>(i.imm) + 1) * 8));
        } else {
            int64_t off = static_cast<int64_t>(caller.st_value) + (static_cast<int64_t>(pc) + i.imm + 1) * 8;
            if (off >= 0) target = elf.function_at(caller.st_shndx, static_cast<uint64_t>(off));
        }
        if (!target) {
            out->undetermined.push_back("instruction " + std::to_string(pc) +
                                        " calls a subprogram that could not be located");
            return;
        }
        std::string name = elf.symbol_name(*target);
        if (!visited.insert(name).second) return;
        out->subprograms.push_back(name);
        scan(elf.insns_of(*target), *target);
    }

    void note_data_reference(uint32_t sym_idx, size_t pc) {
        const Elf64_Sym* s = elf.symbol(sym_idx);
        if (!s) return;
        std::string sec = elf.section_name(s->st_shndx);
        if (s->st_shndx == SHN_UNDEF) {
            out->undetermined.push_back("instruction " + std::to_string(pc) + " refers to the extern symbol " +
                                        elf.symbol_name(*s) + ", resolved only at load time");
        } else if (sec == ".maps") {
            std::string name = elf.symbol_name(*s);
            bpf_map* m = bpf_object__find_map_by_name(obj, name.c_str());
            if (!m) {
                out->undetermined.push_back("instruction " + std::to_string(pc) + " refers to map " + name +
                                            ", unknown to libbpf");
                return;
            }
            maps.emplace(name, MapReference{name, bpf_map__type(m), false});
        } else if (sec == ".rodata" || sec == ".data" || sec == ".bss" || sec.rfind(".rodata.", 0) == 0 ||
                   sec.rfind(".data.", 0) == 0) {
            maps.emplace(sec, MapReference{sec, BPF_MAP_TYPE_ARRAY, true});
        } else if (sec != ".text") {
            out->undetermined.push_back("instruction " + std::to_string(pc) + " refers to section " + sec +
                                        ", which is not a map");
        }
    }
};

Result<std::vector<ProgramInsns>> read_object(std::vector<uint8_t> bytes, std::string_view name) {
    std::string obj_name(name);
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = obj_name.c_str());
    BpfObjectPtr obj(bpf_object__open_mem(bytes.data(), bytes.size(), &opts));
    if (!obj) return Error::from_errno(errno, "libbpf cannot open BPF object " + obj_name);
    auto elf = ElfView::parse(std::move(bytes), name);
    if (!elf) return elf.error();

    std::vector<ProgramInsns> result;
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, obj.get()) {
        ProgramInsns p;
        p.name = bpf_program__name(prog);
        p.section = bpf_program__section_name(prog);
        p.type = bpf_program__type(prog);
        const bpf_insn* raw = bpf_program__insns(prog);
        std::vector<bpf_insn> insns(raw, raw + bpf_program__insn_cnt(prog));
        p.insn_count = insns.size();
        const Elf64_Sym* sym = elf->function(p.name);
        if (!sym || sym->st_size != insns.size() * sizeof(bpf_insn))
            return Error{EINVAL, obj_name + ": program " + p.name + " has no matching function symbol"};
        Reader reader{*elf, obj.get(), {}, {}, {p.name}, &p};
        reader.scan(insns, *sym);
        p.helpers.assign(reader.helpers.begin(), reader.helpers.end());
        for (auto& [n, m] : reader.maps) p.maps.push_back(m);
        find_return_codes(insns, p.type, p);
        result.push_back(std::move(p));
    }
    return result;
}

}  // namespace

Result<std::vector<ProgramInsns>> read_object_file(const std::string& path) {
    auto in = read_input_file(path, kMaxBpfObjectBytes, "BPF object");
    if (!in) return in.error();
    std::vector<uint8_t> bytes(in->begin(), in->end());
    std::string base = path.substr(path.find_last_of('/') + 1);
    return read_object(std::move(bytes), base.substr(0, base.find('.')));
}

Result<std::vector<ProgramInsns>> read_object_memory(const void* data, size_t size, std::string_view name) {
    const auto* p = static_cast<const uint8_t*>(data);
    return read_object(std::vector<uint8_t>(p, p + size), name);
}

}  // namespace xb::datapath
