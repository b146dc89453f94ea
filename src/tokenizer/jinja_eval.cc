// Rendering: a tree walk over the parsed template with Jinja's scoping (a for-loop body gets a
// fresh scope per iteration, so `set` inside it does not leak; namespaces are how templates carry
// state out) and Python semantics for operators. Filters, tests and methods: jinja_builtins.cc.
#include <cmath>
#include <ctime>

#include "tokenizer/jinja_renderer.h"

namespace gannet::tokenizer::jinja {

Status Renderer::exec(const std::vector<Stmt>& body, Flow* flow) {
    for (const Stmt& s : body) {
        // Templates come from model files: bound the work and the output so nested loops over
        // range(1000000) end in an error rather than a hang or an out-of-memory kill.
        if (++n_steps_ > limits_.max_steps || out_.size() > limits_.max_output_bytes) {
            return make_error(ErrorCode::kResourceExhausted,
                              "chat template: line %d: rendering exceeds %lld steps or %zu bytes", s.line,
                              static_cast<long long>(limits_.max_steps), limits_.max_output_bytes);
        }
        switch (s.kind) {
            case Stmt::Kind::kText: out_ += s.text; break;
            case Stmt::Kind::kOutput: {
                GANNET_ASSIGN_OR_RETURN(Value v, eval(*s.expr));
                out_ += v.to_output();
                break;
            }
            case Stmt::Kind::kIf: {
                for (const auto& [cond, branch] : s.branches) {
                    bool take = cond == nullptr;
                    if (!take) {
                        GANNET_ASSIGN_OR_RETURN(Value c, eval(*cond));
                        take = c.truthy();
                    }
                    if (take) {
                        GANNET_RETURN_IF_ERROR(exec(branch, flow));
                        break;
                    }
                }
                break;
            }
            case Stmt::Kind::kFor: GANNET_RETURN_IF_ERROR(exec_for(s)); break;
            case Stmt::Kind::kSet: {
                GANNET_ASSIGN_OR_RETURN(Value v, eval(*s.expr));
                GANNET_RETURN_IF_ERROR(exec_set(s, std::move(v)));
                break;
            }
            case Stmt::Kind::kSetBlock: {
                GANNET_ASSIGN_OR_RETURN(std::string captured, capture(s.body));
                GANNET_RETURN_IF_ERROR(exec_set(s, Value::string(std::move(captured))));
                break;
            }
            case Stmt::Kind::kMacro: frames_.back()[s.targets[0]] = Value::macro(&s, s.targets[0]); break;
            case Stmt::Kind::kFilterBlock: {
                GANNET_ASSIGN_OR_RETURN(std::string captured, capture(s.body));
                std::vector<Value> args;
                std::map<std::string, Value> kwargs;
                GANNET_RETURN_IF_ERROR(eval_args(*s.expr, 1, &args, &kwargs));
                GANNET_ASSIGN_OR_RETURN(Value v,
                                        apply_filter(*s.expr, s.expr->name, Value::string(captured), args, kwargs));
                out_ += v.to_output();
                break;
            }
            case Stmt::Kind::kBreak: *flow = Flow::kBreak; return Status();
            case Stmt::Kind::kContinue: *flow = Flow::kContinue; return Status();
        }
        if (*flow != Flow::kNormal) {
            return Status();
        }
    }
    return Status();
}

Result<std::string> Renderer::capture(const std::vector<Stmt>& body) {
    std::string saved;
    saved.swap(out_);
    Flow inner = Flow::kNormal;
    Status st = exec(body, &inner);
    std::string captured;
    captured.swap(out_);
    out_.swap(saved);
    GANNET_RETURN_IF_ERROR(st);
    return captured;
}

// Macros run on the caller's scope plus a frame of parameters (Jinja closes over the defining
// scope instead; templates define macros at top level, where the two agree).
Result<Value> Renderer::call_macro(const Expr& e, const Stmt& def, const std::vector<Value>& args,
                                   const std::map<std::string, Value>& kwargs) {
    if (macro_depth_ >= kMaxMacroDepth) {
        return runtime_error(e, "macro '" + def.targets[0] + "' nests deeper than 64 calls");
    }
    std::map<std::string, Value> frame;
    for (size_t i = 1; i < def.targets.size(); ++i) {
        const std::string& param = def.targets[i];
        auto kw = kwargs.find(param);
        if (i - 1 < args.size()) {
            frame[param] = args[i - 1];
        } else if (kw != kwargs.end()) {
            frame[param] = kw->second;
        } else if (def.defaults[i - 1] != nullptr) {
            GANNET_ASSIGN_OR_RETURN(frame[param], eval(*def.defaults[i - 1]));
        } else {
            frame[param] = Value();
        }
    }
    frames_.push_back(std::move(frame));
    ++macro_depth_;
    Result<std::string> out = capture(def.body);
    --macro_depth_;
    frames_.pop_back();
    if (!out.has_value()) {
        return out.error();
    }
    return Value::string(std::move(out).value());
}

Status Renderer::exec_set(const Stmt& s, Value v) {
    if (s.targets.size() == 1) {
        frames_.back()[s.targets[0]] = std::move(v);
        return Status();
    }
    Value ns = lookup(s.targets[0]);
    if (!ns.is_object()) {
        return make_error(ErrorCode::kInvalidArgument, "chat template: line %d: cannot set '%s.%s' on a %s", s.line,
                          s.targets[0].c_str(), s.targets[1].c_str(), kind_name(ns));
    }
    if (v.reaches(ns)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "chat template: line %d: cannot set '%s.%s' to a value holding '%s' (a reference cycle)",
                          s.line, s.targets[0].c_str(), s.targets[1].c_str(), s.targets[0].c_str());
    }
    ns.set(s.targets[1], std::move(v));  // dicts are shared: this updates the namespace in place
    return Status();
}

Status Renderer::exec_for(const Stmt& s) {
    GANNET_ASSIGN_OR_RETURN(Value seq, eval(*s.expr));
    std::vector<Value> all = iterate(seq);
    std::vector<Value> elems;
    for (Value& v : all) {
        if (s.loop_filter != nullptr) {
            frames_.emplace_back();
            frames_.back()[s.targets[0]] = v;
            Result<Value> keep = eval(*s.loop_filter);
            frames_.pop_back();
            if (!keep.has_value()) {
                return keep.error();
            }
            if (!keep->truthy()) {
                continue;
            }
        }
        elems.push_back(std::move(v));
    }
    if (elems.empty()) {
        Flow flow = Flow::kNormal;
        return exec(s.else_body, &flow);
    }
    const auto n = static_cast<int64_t>(elems.size());
    // One `loop` object advanced in place, as Jinja's LoopContext is.
    Value loop = Value::object({{"index", Value()},
                                {"index0", Value()},
                                {"revindex", Value()},
                                {"revindex0", Value()},
                                {"first", Value()},
                                {"last", Value()},
                                {"length", Value::integer(n)},
                                {"previtem", Value()},
                                {"nextitem", Value()}});
    Object& fields = loop.fields();
    Status st;
    for (int64_t i = 0; i < n && st.ok(); ++i) {
        if (++n_steps_ > limits_.max_steps) {
            return make_error(ErrorCode::kResourceExhausted, "chat template: line %d: rendering exceeds %lld steps",
                              s.line, static_cast<long long>(limits_.max_steps));
        }
        fields[0].second = Value::integer(i + 1);
        fields[1].second = Value::integer(i);
        fields[2].second = Value::integer(n - i);
        fields[3].second = Value::integer(n - i - 1);
        fields[4].second = Value::boolean(i == 0);
        fields[5].second = Value::boolean(i == n - 1);
        fields[7].second = i > 0 ? elems[static_cast<size_t>(i - 1)] : Value();
        fields[8].second = i + 1 < n ? elems[static_cast<size_t>(i + 1)] : Value();
        frames_.emplace_back();
        auto& frame = frames_.back();
        const Value& item = elems[static_cast<size_t>(i)];
        if (s.targets.size() == 1) {
            frame[s.targets[0]] = item;
        } else {
            std::vector<Value> parts = iterate(item);
            for (size_t k = 0; k < s.targets.size(); ++k) {
                frame[s.targets[k]] = k < parts.size() ? parts[k] : Value();
            }
        }
        frame["loop"] = loop;
        Flow flow = Flow::kNormal;
        st = exec(s.body, &flow);
        frames_.pop_back();
        if (flow == Flow::kBreak) {
            break;
        }
    }
    return st;
}

Status Renderer::eval_args(const Expr& e, size_t first, std::vector<Value>* args,
                           std::map<std::string, Value>* kwargs) {
    for (size_t i = first; i < e.args.size(); ++i) {
        GANNET_ASSIGN_OR_RETURN(Value v, eval(*e.args[i]));
        args->push_back(std::move(v));
    }
    for (const auto& [k, x] : e.kwargs) {
        GANNET_ASSIGN_OR_RETURN(Value v, eval(*x));
        (*kwargs)[k] = std::move(v);
    }
    return Status();
}

Result<Value> Renderer::eval(const Expr& e) {
    switch (e.kind) {
        case Expr::Kind::kLiteral: return e.literal;
        case Expr::Kind::kName: return lookup(e.name);
        case Expr::Kind::kList: {
            Array items;
            for (const auto& a : e.args) {
                GANNET_ASSIGN_OR_RETURN(Value v, eval(*a));
                items.push_back(std::move(v));
            }
            return Value::array(std::move(items));
        }
        case Expr::Kind::kDict: {
            Value obj = Value::object();
            for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
                GANNET_ASSIGN_OR_RETURN(Value k, eval(*e.args[i]));
                GANNET_ASSIGN_OR_RETURN(Value v, eval(*e.args[i + 1]));
                obj.set(k.to_output(), std::move(v));
            }
            return obj;
        }
        case Expr::Kind::kGetAttr: {
            GANNET_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0]));
            const Value* v = obj.get(e.name);
            return v != nullptr ? *v : Value();
        }
        case Expr::Kind::kGetItem: {
            GANNET_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0]));
            GANNET_ASSIGN_OR_RETURN(Value idx, eval(*e.args[1]));
            if (obj.is_object()) {
                const Value* v = obj.get(idx.to_output());
                return v != nullptr ? *v : Value();
            }
            if ((obj.is_array() || obj.is_string()) && idx.is_number()) {
                std::vector<Value> elems = obj.is_array() ? std::vector<Value>() : iterate(obj);
                const std::vector<Value>& seq = obj.is_array() ? obj.items() : elems;
                int64_t i = idx.as_int();
                i += i < 0 ? static_cast<int64_t>(seq.size()) : 0;
                if (i >= 0 && i < static_cast<int64_t>(seq.size())) {
                    return seq[static_cast<size_t>(i)];
                }
            }
            return Value();
        }
        case Expr::Kind::kSlice: {
            GANNET_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0]));
            Value parts[3];
            for (int k = 0; k < 3; ++k) {
                if (e.args[k + 1] != nullptr) {
                    GANNET_ASSIGN_OR_RETURN(parts[k], eval(*e.args[k + 1]));
                }
            }
            return slice(obj, parts[0], parts[1], parts[2]);
        }
        case Expr::Kind::kCall: return eval_call(e);
        case Expr::Kind::kFilter: {
            GANNET_ASSIGN_OR_RETURN(Value in, eval(*e.args[0]));
            std::vector<Value> args;
            std::map<std::string, Value> kwargs;
            GANNET_RETURN_IF_ERROR(eval_args(e, 1, &args, &kwargs));
            return apply_filter(e, e.name, in, args, kwargs);
        }
        case Expr::Kind::kTest: {
            GANNET_ASSIGN_OR_RETURN(Value in, eval(*e.args[0]));
            std::vector<Value> args;
            std::map<std::string, Value> kwargs;
            GANNET_RETURN_IF_ERROR(eval_args(e, 1, &args, &kwargs));
            GANNET_ASSIGN_OR_RETURN(bool r, apply_test(e, e.name, in, args));
            return Value::boolean(r != e.negated);
        }
        case Expr::Kind::kUnary: {
            GANNET_ASSIGN_OR_RETURN(Value v, eval(*e.args[0]));
            if (e.name == "not") {
                return Value::boolean(!v.truthy());
            }
            if (!v.is_number()) {
                return runtime_error(e, std::string("unary ") + e.name + " on a " + kind_name(v));
            }
            if (e.name == "+") {
                return v;
            }
            if (v.kind() == Value::Kind::kFloat) {
                return Value::number(-v.as_double());
            }
            int64_t negated = 0;
            if (__builtin_sub_overflow(int64_t{0}, v.as_int(), &negated)) {
                return runtime_error(e, "integer overflow in unary -");
            }
            return Value::integer(negated);
        }
        case Expr::Kind::kBinary: return eval_binary(e);
        case Expr::Kind::kCondition: {
            GANNET_ASSIGN_OR_RETURN(Value c, eval(*e.args[1]));
            if (c.truthy()) {
                return eval(*e.args[0]);
            }
            return e.args[2] != nullptr ? eval(*e.args[2]) : Result<Value>(Value());
        }
    }
    return Value();
}

Result<Value> Renderer::eval_binary(const Expr& e) {
    const std::string& op = e.name;
    GANNET_ASSIGN_OR_RETURN(Value a, eval(*e.args[0]));
    if (op == "and") {
        return a.truthy() ? eval(*e.args[1]) : Result<Value>(a);
    }
    if (op == "or") {
        return a.truthy() ? Result<Value>(a) : eval(*e.args[1]);
    }
    GANNET_ASSIGN_OR_RETURN(Value b, eval(*e.args[1]));
    if (op == "==") {
        return Value::boolean(a.equals(b));
    }
    if (op == "!=") {
        return Value::boolean(!a.equals(b));
    }
    if (op == "in" || op == "notin") {
        return Value::boolean(contains(b, a) == (op == "in"));
    }
    if (op == "~") {
        return Value::string(a.to_output() + b.to_output());
    }
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
        int cmp = 0;
        if (a.is_number() && b.is_number()) {
            cmp = a.as_double() < b.as_double() ? -1 : (a.as_double() > b.as_double() ? 1 : 0);
        } else if (a.is_string() && b.is_string()) {
            cmp = a.str().compare(b.str());
        } else {
            return runtime_error(e, std::string("cannot compare ") + kind_name(a) + " and " + kind_name(b));
        }
        const bool r = op == "<" ? cmp < 0 : op == ">" ? cmp > 0 : op == "<=" ? cmp <= 0 : cmp >= 0;
        return Value::boolean(r);
    }
    if (op == "+") {
        if (a.is_string() && b.is_string()) {
            return Value::string(a.str() + b.str());
        }
        if (a.is_array() && b.is_array()) {
            Array items = a.items();
            items.insert(items.end(), b.items().begin(), b.items().end());
            return Value::array(std::move(items));
        }
    }
    if (op == "*" && a.is_string() && b.kind() == Value::Kind::kInt) {
        constexpr int64_t kMaxBytes = 16 << 20;  // a prompt never needs more; stops 'x' * 10**12
        if (b.as_int() > 0 && static_cast<int64_t>(a.str().size()) * b.as_int() > kMaxBytes) {
            return runtime_error(e, "string repetition larger than 16 MiB");
        }
        std::string s;
        for (int64_t i = 0; i < b.as_int(); ++i) {
            s += a.str();
        }
        return Value::string(std::move(s));
    }
    if (!a.is_number() || !b.is_number()) {
        return runtime_error(e, "unsupported operand types for " + op + ": " + kind_name(a) + " and " + kind_name(b));
    }
    const bool ints = a.kind() != Value::Kind::kFloat && b.kind() != Value::Kind::kFloat;
    if ((op == "/" || op == "//" || op == "%") && b.as_double() == 0.0) {
        return runtime_error(e, "division by zero");
    }
    if (op == "/") {
        return Value::number(a.as_double() / b.as_double());
    }
    if (ints) {
        // Python's ints do not overflow; ours are int64, so an overflow is an error rather than
        // undefined behaviour (INT64_MIN // -1 would trap).
        const int64_t x = a.as_int();
        const int64_t y = b.as_int();
        int64_t r = 0;
        bool is_overflow = false;
        if (op == "+") {
            is_overflow = __builtin_add_overflow(x, y, &r);
        } else if (op == "-") {
            is_overflow = __builtin_sub_overflow(x, y, &r);
        } else if (op == "*") {
            is_overflow = __builtin_mul_overflow(x, y, &r);
        } else if (y == -1) {
            is_overflow = op == "//" && __builtin_sub_overflow(int64_t{0}, x, &r);  // x % -1 is 0
        } else {
            // Python's floor division and modulo round toward negative infinity.
            int64_t q = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) {
                --q;
            }
            r = op == "//" ? q : x - q * y;
        }
        if (is_overflow) {
            return runtime_error(e, "integer overflow in " + op);
        }
        return Value::integer(r);
    }
    const double x = a.as_double();
    const double y = b.as_double();
    if (op == "+") {
        return Value::number(x + y);
    }
    if (op == "-") {
        return Value::number(x - y);
    }
    if (op == "*") {
        return Value::number(x * y);
    }
    if (op == "//") {
        return Value::number(std::floor(x / y));
    }
    return Value::number(x - std::floor(x / y) * y);
}

Result<Value> Renderer::eval_call(const Expr& e) {
    const Expr& callee = *e.args[0];
    std::vector<Value> args;
    std::map<std::string, Value> kwargs;
    GANNET_RETURN_IF_ERROR(eval_args(e, 1, &args, &kwargs));
    if (callee.kind == Expr::Kind::kGetAttr) {
        GANNET_ASSIGN_OR_RETURN(Value self, eval(*callee.args[0]));
        return call_method(e, self, callee.name, args);
    }
    GANNET_ASSIGN_OR_RETURN(Value fn, eval(callee));
    if (fn.kind() == Value::Kind::kMacro) {
        return call_macro(e, *static_cast<const Stmt*>(fn.macro_def()), args, kwargs);
    }
    if (fn.kind() != Value::Kind::kBuiltin) {
        return runtime_error(e, "'" + (callee.kind == Expr::Kind::kName ? callee.name : "expression")
                                    + "' is not callable (" + kind_name(fn) + ")");
    }
    const std::string& name = fn.str();
    if (name == "raise_exception") {
        return make_error(ErrorCode::kInvalidArgument, "chat template: %s",
                          args.empty() ? "raise_exception" : args[0].to_output().c_str());
    }
    if (name == "namespace" || name == "dict") {
        Value obj = Value::object();
        for (auto& [k, v] : kwargs) {
            obj.set(k, v);
        }
        return obj;
    }
    if (name == "range") {
        int64_t start = 0;
        int64_t stop = 0;
        int64_t step = 1;
        if (args.size() == 1) {
            stop = args[0].as_int();
        } else if (args.size() >= 2) {
            start = args[0].as_int();
            stop = args[1].as_int();
            step = args.size() > 2 ? args[2].as_int() : 1;
        }
        // 100k elements is far beyond any chat template's need and bounds the memory a hostile one takes.
        if (step == 0 || (stop - start) / step > 100000) {
            return runtime_error(e, "range() longer than 100000 or with step 0");
        }
        Array out;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            out.push_back(Value::integer(i));
        }
        return Value::array(std::move(out));
    }
    if (name == "strftime_now") {
        const std::time_t now = std::time(nullptr);
        std::tm tm{};
        localtime_r(&now, &tm);
        char buf[128];
        const std::string fmt = args.empty() ? "%Y-%m-%d" : args[0].to_output();
        const size_t n = std::strftime(buf, sizeof(buf), fmt.c_str(), &tm);
        return Value::string(std::string(buf, n));
    }
    return runtime_error(e, "unknown function '" + name + "'");
}

Result<std::string> Template::render(const Value& globals, const RenderLimits& limits) const {
    Renderer r(globals, limits);
    Flow flow = Flow::kNormal;
    GANNET_RETURN_IF_ERROR(r.exec(*body_, &flow));
    return std::move(r.out());
}

}  // namespace gannet::tokenizer::jinja
