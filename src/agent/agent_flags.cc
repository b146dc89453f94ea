#include "agent/agent_flags.h"

#include <cerrno>
#include <cstdlib>

namespace gannet::agent {

void AgentFlags::add_string(const std::string& name, std::string* out, const std::string& help) {
    flags_.push_back({name, help, true, [out](const std::string& v) {
                          *out = v;
                          return Status();
                      }});
}

void AgentFlags::add_int(const std::string& name, int64_t* out, int64_t lo, int64_t hi, const std::string& help) {
    flags_.push_back({name, help, true, [this, name, out, lo, hi](const std::string& v) {
                          char* end = nullptr;
                          errno = 0;
                          const long long n = std::strtoll(v.c_str(), &end, 10);
                          if (v.empty() || *end != '\0' || errno == ERANGE || n < lo || n > hi) {
                              return make_error(ErrorCode::kInvalidArgument,
                                                "%s: %s must be an integer in [%lld, %lld], got '%s'", command_.c_str(),
                                                name.c_str(), static_cast<long long>(lo), static_cast<long long>(hi),
                                                v.c_str());
                          }
                          *out = n;
                          return Status();
                      }});
}

void AgentFlags::add_double(const std::string& name, double* out, double lo, double hi, const std::string& help) {
    flags_.push_back({name, help, true, [this, name, out, lo, hi](const std::string& v) {
                          char* end = nullptr;
                          const double d = std::strtod(v.c_str(), &end);
                          if (v.empty() || *end != '\0' || !(d >= lo && d <= hi)) {
                              return make_error(ErrorCode::kInvalidArgument,
                                                "%s: %s must be a number in [%g, %g], got '%s'", command_.c_str(),
                                                name.c_str(), lo, hi, v.c_str());
                          }
                          *out = d;
                          return Status();
                      }});
}

void AgentFlags::add_bool(const std::string& name, bool* out, const std::string& help) {
    flags_.push_back({name, help, false, [out](const std::string&) {
                          *out = true;
                          return Status();
                      }});
}

Status AgentFlags::parse(const std::vector<std::string>& args) {
    for (size_t i = 0; i < args.size(); ++i) {
        std::string name = args[i];
        std::string value;
        bool has_inline = false;
        if (size_t eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
            has_inline = true;
        }
        const Flag* flag = nullptr;
        for (const Flag& f : flags_) {
            if (f.name == name) {
                flag = &f;
            }
        }
        if (flag == nullptr) {
            return make_error(ErrorCode::kInvalidArgument, "%s: unknown flag '%s' (see --help)", command_.c_str(),
                              name.c_str());
        }
        if (flag->has_value && !has_inline) {
            if (i + 1 >= args.size()) {
                return make_error(ErrorCode::kInvalidArgument, "%s: %s needs a value", command_.c_str(), name.c_str());
            }
            value = args[++i];
        }
        GANNET_RETURN_IF_ERROR(flag->set(value));
    }
    return Status();
}

std::string AgentFlags::usage() const {
    std::string s;
    for (const Flag& f : flags_) {
        s += "  " + f.name + (f.has_value ? " V" : "") + std::string(f.name.size() < 22 ? 22 - f.name.size() : 1, ' ')
             + f.help + "\n";
    }
    return s;
}

}  // namespace gannet::agent
