#include "control/json_value.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace xb::control {

const JsonValue* JsonValue::get(std::string_view key) const {
    if (kind_ != Kind::Object) return nullptr;
    auto it = object_.find(std::string(key));
    return it == object_.end() ? nullptr : &it->second;
}

class JsonParser {
public:
    explicit JsonParser(std::string_view s) : s_(s) {}

    Result<JsonValue> document() {
        JsonValue v;
        if (auto st = value(v, 0); !st) return st.error();
        skip_ws();
        if (pos_ != s_.size()) return error("trailing characters after the JSON value");
        return v;
    }

private:
    Error error(const std::string& what) const { return Error{EINVAL, what + " at offset " + std::to_string(pos_)}; }
    void skip_ws() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
    }
    bool literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }

    Status value(JsonValue& v, int depth) {
        if (depth > kJsonMaxDepth) return error("JSON nested deeper than " + std::to_string(kJsonMaxDepth));
        skip_ws();
        if (pos_ >= s_.size()) return error("unexpected end of input");
        char c = s_[pos_];
        if (c == '{') return object(v, depth);
        if (c == '[') return array(v, depth);
        if (c == '"') {
            v.kind_ = JsonValue::Kind::String;
            return string(v.string_);
        }
        if (literal("true")) { v.kind_ = JsonValue::Kind::Bool; v.bool_ = true; return {}; }
        if (literal("false")) { v.kind_ = JsonValue::Kind::Bool; v.bool_ = false; return {}; }
        if (literal("null")) { v.kind_ = JsonValue::Kind::Null; return {}; }
        if (c == '-' || (c >= '0' && c <= '9')) return number(v);
        return error(std::string("unexpected character '") + (c >= 0x20 && c < 0x7f ? std::string(1, c) : "?") + "'");
    }

    Status number(JsonValue& v) {
        size_t start = pos_;
        if (s_[pos_] == '-') ++pos_;
        auto digits = [&] {
            size_t d = pos_;
            while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
            return pos_ > d;
        };
        if (!digits()) return error("a number needs digits");
        if (pos_ < s_.size() && s_[pos_] == '.') { ++pos_; if (!digits()) return error("a fraction needs digits"); }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
            if (!digits()) return error("an exponent needs digits");
        }
        std::string text(s_.substr(start, pos_ - start));
        v.kind_ = JsonValue::Kind::Number;
        v.number_ = std::strtod(text.c_str(), nullptr);
        if (!std::isfinite(v.number_)) return error("number out of range");
        return {};
    }

    static void put_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) out += static_cast<char>(cp);
        else if (cp < 0x800) { out += static_cast<char>(0xc0 | (cp >> 6)); out += static_cast<char>(0x80 | (cp & 0x3f)); }
        else if (cp < 0x10000) {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        }
    }

    Status hex4(uint32_t& cp) {
        if (pos_ + 4 > s_.size()) return error("a \\u escape needs four hex digits");
        cp = 0;
        for (int i = 0; i < 4; ++i) {
            char h = s_[pos_++];
            cp <<= 4;
            if (h >= '0' && h <= '9') cp |= static_cast<uint32_t>(h - '0');
            else if (h >= 'a' && h <= 'f') cp |= static_cast<uint32_t>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') cp |= static_cast<uint32_t>(h - 'A' + 10);
            else return error("a \\u escape needs four hex digits");
        }
        return {};
    }

    Status string(std::string& out) {
        ++pos_;  // the opening quote
        while (pos_ < s_.size()) {
            char c = s_[pos_++];
            if (c == '"') return {};
            if (static_cast<unsigned char>(c) < 0x20) return error("a control character inside a string");
            if (c != '\\') { out += c; continue; }
            if (pos_ >= s_.size()) break;
            char e = s_[pos_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    uint32_t cp = 0;
                    if (auto st = hex4(cp); !st) return st;
                    if (cp >= 0xd800 && cp < 0xdc00) {
                        uint32_t lo = 0;
                        if (!literal("\\u")) return error("a high surrogate without its low half");
                        if (auto st = hex4(lo); !st) return st;
                        if (lo < 0xdc00 || lo >= 0xe000) return error("a high surrogate without its low half");
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    } else if (cp >= 0xdc00 && cp < 0xe000) {
                        return error("a lone low surrogate");
                    }
                    put_utf8(out, cp);
                    break;
                }
                default: return error("an unknown escape in a string");
            }
        }
        return error("an unterminated string");
    }

    Status array(JsonValue& v, int depth) {
        ++pos_;
        v.kind_ = JsonValue::Kind::Array;
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return {}; }
        for (;;) {
            JsonValue item;
            if (auto st = value(item, depth + 1); !st) return st;
            v.array_.push_back(std::move(item));
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
            if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return {}; }
            return error("expected ',' or ']' in an array");
        }
    }

    Status object(JsonValue& v, int depth) {
        ++pos_;
        v.kind_ = JsonValue::Kind::Object;
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return {}; }
        for (;;) {
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != '"') return error("expected a member name (a string)");
            std::string key;
            if (auto st = string(key); !st) return st;
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != ':') return error("expected ':' after a member name");
            ++pos_;
            JsonValue item;
            if (auto st = value(item, depth + 1); !st) return st;
            if (v.object_.count(key)) return error("member '" + key + "' appears twice");
            v.object_.emplace(std::move(key), std::move(item));
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
            if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return {}; }
            return error("expected ',' or '}' in an object");
        }
    }

    std::string_view s_;
    size_t pos_ = 0;
};

Result<JsonValue> JsonValue::parse(std::string_view text) { return JsonParser(text).document(); }

}  // namespace xb::control
