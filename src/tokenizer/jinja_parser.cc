// Parsing: the source is cut into text / {{ expr }} / {% stmt %} segments (applying whitespace
// control and HF's trim_blocks + lstrip_blocks), each tag's content is lexed, and a recursive
// descent parser with Jinja's operator precedence builds the tree.
#include <cctype>
#include <cstdlib>

#include "tokenizer/jinja.h"
#include "tokenizer/jinja_ast.h"

namespace gannet::tokenizer::jinja {
namespace {

struct Segment {
    enum class Kind { kText, kExpr, kStmt };
    Kind kind;
    std::string content;
    int line;
};

int count_lines(std::string_view s, size_t from, size_t to) {
    int n = 0;
    for (size_t i = from; i < to && i < s.size(); ++i) {
        n += s[i] == '\n' ? 1 : 0;
    }
    return n;
}

// Position of the tag end marker ("}}" or "%}") at or after `pos`, skipping quoted strings.
size_t find_tag_end(std::string_view src, size_t pos, char closer) {
    char quote = 0;
    for (size_t i = pos; i + 1 < src.size(); ++i) {
        const char c = src[i];
        if (quote != 0) {
            if (c == '\\') {
                ++i;
            } else if (c == quote) {
                quote = 0;
            }
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == closer && src[i + 1] == '}') {
            return i;
        }
    }
    return std::string_view::npos;
}

Result<std::vector<Segment>> segment(std::string_view src) {
    std::vector<Segment> out;
    size_t pos = 0;
    int line = 1;
    bool strip_next = false;  // previous tag ended with "-": drop all leading whitespace
    bool trim_next = false;   // previous tag was a block/comment: drop one leading newline
    while (pos <= src.size()) {
        size_t open = src.find('{', pos);
        while (open != std::string_view::npos && open + 1 < src.size() && src[open + 1] != '{' && src[open + 1] != '%'
               && src[open + 1] != '#') {
            open = src.find('{', open + 1);
        }
        if (open != std::string_view::npos && open + 1 >= src.size()) {
            open = std::string_view::npos;
        }
        const size_t text_end = open == std::string_view::npos ? src.size() : open;
        std::string text(src.substr(pos, text_end - pos));
        bool begins_line = pos == 0 || src[pos - 1] == '\n';
        if (strip_next) {
            const size_t first = text.find_first_not_of(" \t\r\n");
            text.erase(0, first == std::string::npos ? text.size() : first);
        } else if (trim_next) {
            if (text.starts_with("\n")) {
                text.erase(0, 1);
                begins_line = true;
            } else if (text.starts_with("\r\n")) {
                text.erase(0, 2);
                begins_line = true;
            }
        }
        if (open == std::string_view::npos) {
            if (!text.empty()) {
                out.push_back({Segment::Kind::kText, text, line});
            }
            break;
        }
        const char kind = src[open + 1];
        const char marker = open + 2 < src.size() ? src[open + 2] : 0;
        if (marker == '-') {
            const size_t keep = text.find_last_not_of(" \t\r\n");
            text.erase(keep == std::string::npos ? 0 : keep + 1);
        } else if (kind != '{' && marker != '+') {
            // lstrip_blocks: spaces/tabs between a line start and a block tag go.
            const size_t last_nl = text.find_last_of('\n');
            const size_t line_start = last_nl == std::string::npos ? 0 : last_nl + 1;
            const bool at_line_start = last_nl != std::string::npos || begins_line;
            if (at_line_start && text.find_first_not_of(" \t", line_start) == std::string::npos) {
                text.erase(line_start);
            }
        }
        if (!text.empty()) {
            out.push_back({Segment::Kind::kText, text, line});
        }
        line += count_lines(src, pos, open);
        const size_t content_start = open + 2 + ((marker == '-' || marker == '+') ? 1 : 0);
        size_t close;
        if (kind == '#') {
            close = src.find("#}", content_start);
        } else {
            close = find_tag_end(src, content_start, kind == '{' ? '}' : '%');
        }
        if (close == std::string_view::npos) {
            return make_error(ErrorCode::kInvalidArgument, "chat template: line %d: unclosed '{%c'", line, kind);
        }
        const bool strip_after = close > content_start && src[close - 1] == '-';
        const size_t content_end = strip_after ? close - 1 : close;
        if (kind != '#') {
            out.push_back({kind == '{' ? Segment::Kind::kExpr : Segment::Kind::kStmt,
                           std::string(src.substr(content_start, content_end - content_start)), line});
        }
        line += count_lines(src, open, close + 2);
        strip_next = strip_after;
        trim_next = kind != '{';
        pos = close + 2;
    }
    return out;
}

struct Token {
    enum class Kind { kName, kString, kInt, kFloat, kOp, kEnd };
    Kind kind = Kind::kEnd;
    std::string text;
};

Result<std::vector<Token>> lex(const std::string& s, int line) {
    std::vector<Token> out;
    size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (std::isspace(static_cast<unsigned char>(c))) {
            ++i;
        } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            size_t j = i;
            while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) {
                ++j;
            }
            out.push_back({Token::Kind::kName, s.substr(i, j - i)});
            i = j;
        } else if (std::isdigit(static_cast<unsigned char>(c))) {
            size_t j = i;
            bool is_float = false;
            while (j < s.size()
                   && (std::isdigit(static_cast<unsigned char>(s[j]))
                       || (s[j] == '.' && !is_float && j + 1 < s.size()
                           && std::isdigit(static_cast<unsigned char>(s[j + 1]))))) {
                is_float |= s[j] == '.';
                ++j;
            }
            out.push_back({is_float ? Token::Kind::kFloat : Token::Kind::kInt, s.substr(i, j - i)});
            i = j;
        } else if (c == '\'' || c == '"') {
            std::string value;
            size_t j = i + 1;
            for (; j < s.size() && s[j] != c; ++j) {
                if (s[j] == '\\' && j + 1 < s.size()) {
                    const char e = s[++j];
                    switch (e) {
                        case 'n': value.push_back('\n'); break;
                        case 't': value.push_back('\t'); break;
                        case 'r': value.push_back('\r'); break;
                        default: value.push_back(e); break;
                    }
                } else {
                    value.push_back(s[j]);
                }
            }
            if (j >= s.size()) {
                return make_error(ErrorCode::kInvalidArgument, "chat template: line %d: unterminated string", line);
            }
            out.push_back({Token::Kind::kString, value});
            i = j + 1;
        } else {
            static const char* const kOps[] = {"==", "!=", "<=", ">=", "//", "**", "+", "-", "*", "/", "%", "~", "|",
                                               ".",  ",",  ":",  "(",  ")",  "[",  "]", "{", "}", "<", ">", "="};
            bool matched = false;
            for (const char* op : kOps) {
                const std::string_view o(op);
                if (std::string_view(s).substr(i).starts_with(o)) {
                    out.push_back({Token::Kind::kOp, std::string(o)});
                    i += o.size();
                    matched = true;
                    break;
                }
            }
            if (!matched) {
                return make_error(ErrorCode::kInvalidArgument, "chat template: line %d: unexpected character '%c'",
                                  line, c);
            }
        }
    }
    out.push_back({Token::Kind::kEnd, ""});
    return out;
}

using ExprPtr = std::unique_ptr<Expr>;

// Recursive descent over one tag's tokens, following Jinja's precedence: conditional < or < and <
// not < comparison/in < + - < ~ < * / // % < unary minus < postfix ([], ., ()) and filters/tests.
class ExprParser {
public:
    ExprParser(std::vector<Token> tokens, int line) : t_(std::move(tokens)), line_(line) {}

    bool at_end() const { return t_[pos_].kind == Token::Kind::kEnd; }
    bool is_name(std::string_view n) const { return t_[pos_].kind == Token::Kind::kName && t_[pos_].text == n; }
    bool is_op(std::string_view o) const { return t_[pos_].kind == Token::Kind::kOp && t_[pos_].text == o; }
    const Token& peek() const { return t_[pos_]; }
    const Token& next() { return t_[pos_ < t_.size() - 1 ? pos_++ : pos_]; }
    Status error(const char* what) const {
        return make_error(ErrorCode::kInvalidArgument, "chat template: line %d: %s near '%s'", line_, what,
                          t_[pos_].text.c_str());
    }
    Status expect_op(std::string_view o) {
        if (!is_op(o)) {
            return error(("expected '" + std::string(o) + "'").c_str());
        }
        ++pos_;
        return Status();
    }
    // After "{% filter": the filter name and its optional arguments, as a kFilter whose input
    // (args[0]) is null and filled with the block's text when rendering.
    Result<std::unique_ptr<Expr>> filter_tail() {
        GANNET_ASSIGN_OR_RETURN(std::string name, expect_name());
        auto f = node(Expr::Kind::kFilter);
        f->name = name;
        f->args.push_back(nullptr);
        if (is_op("(")) {
            GANNET_RETURN_IF_ERROR(call_args(f.get()));
        }
        return f;
    }
    Result<std::string> expect_name() {
        if (peek().kind != Token::Kind::kName) {
            return error("expected a name");
        }
        return next().text;
    }

    Result<ExprPtr> expression() {
        // Templates come from model files: bound the recursion so "((((..." cannot overflow the stack.
        if (++depth_ > kMaxDepth) {
            return error("expression nested too deeply");
        }
        Result<ExprPtr> r = conditional();
        --depth_;
        return r;
    }
    Result<ExprPtr> conditional() {
        GANNET_ASSIGN_OR_RETURN(ExprPtr e, or_expr());
        if (is_name("if")) {
            ++pos_;
            GANNET_ASSIGN_OR_RETURN(ExprPtr cond, or_expr());
            ExprPtr otherwise;
            if (is_name("else")) {
                ++pos_;
                GANNET_ASSIGN_OR_RETURN(otherwise, expression());
            }
            ExprPtr c = node(Expr::Kind::kCondition);
            c->args.push_back(std::move(e));
            c->args.push_back(std::move(cond));
            c->args.push_back(std::move(otherwise));
            return c;
        }
        return e;
    }
    // An expression without a trailing "if" (the iterable of "for x in xs if cond").
    Result<ExprPtr> or_expr() {
        GANNET_ASSIGN_OR_RETURN(ExprPtr left, and_expr());
        while (is_name("or")) {
            ++pos_;
            GANNET_ASSIGN_OR_RETURN(ExprPtr right, and_expr());
            left = binary("or", std::move(left), std::move(right));
        }
        return left;
    }

private:
    Result<ExprPtr> expression_depth_guarded(Result<ExprPtr> (ExprParser::*fn)()) {
        if (++depth_ > kMaxDepth) {
            return error("expression nested too deeply");
        }
        Result<ExprPtr> r = (this->*fn)();
        --depth_;
        return r;
    }
    ExprPtr node(Expr::Kind kind) {
        auto e = std::make_unique<Expr>();
        e->kind = kind;
        e->line = line_;
        return e;
    }
    ExprPtr binary(std::string op, ExprPtr a, ExprPtr b) {
        ExprPtr e = node(Expr::Kind::kBinary);
        e->name = std::move(op);
        e->args.push_back(std::move(a));
        e->args.push_back(std::move(b));
        return e;
    }
    Result<ExprPtr> and_expr() {
        GANNET_ASSIGN_OR_RETURN(ExprPtr left, not_expr());
        while (is_name("and")) {
            ++pos_;
            GANNET_ASSIGN_OR_RETURN(ExprPtr right, not_expr());
            left = binary("and", std::move(left), std::move(right));
        }
        return left;
    }
    Result<ExprPtr> not_expr() {
        if (is_name("not")) {
            ++pos_;
            GANNET_ASSIGN_OR_RETURN(ExprPtr inner, expression_depth_guarded(&ExprParser::not_expr));
            ExprPtr e = node(Expr::Kind::kUnary);
            e->name = "not";
            e->args.push_back(std::move(inner));
            return e;
        }
        return compare();
    }
    Result<ExprPtr> compare() {
        GANNET_ASSIGN_OR_RETURN(ExprPtr left, add());
        while (true) {
            std::string op;
            if (is_op("==") || is_op("!=") || is_op("<") || is_op(">") || is_op("<=") || is_op(">=")) {
                op = next().text;
            } else if (is_name("in")) {
                ++pos_;
                op = "in";
            } else if (is_name("not") && t_[pos_ + 1].kind == Token::Kind::kName && t_[pos_ + 1].text == "in") {
                pos_ += 2;
                op = "notin";
            } else {
                return left;
            }
            GANNET_ASSIGN_OR_RETURN(ExprPtr right, add());
            left = binary(op, std::move(left), std::move(right));
        }
    }
    Result<ExprPtr> add() {
        GANNET_ASSIGN_OR_RETURN(ExprPtr left, concat());
        while (is_op("+") || is_op("-")) {
            std::string op = next().text;
            GANNET_ASSIGN_OR_RETURN(ExprPtr right, concat());
            left = binary(op, std::move(left), std::move(right));
        }
        return left;
    }
    Result<ExprPtr> concat() {
        GANNET_ASSIGN_OR_RETURN(ExprPtr left, mul());
        while (is_op("~")) {
            ++pos_;
            GANNET_ASSIGN_OR_RETURN(ExprPtr right, mul());
            left = binary("~", std::move(left), std::move(right));
        }
        return left;
    }
    Result<ExprPtr> mul() {
        GANNET_ASSIGN_OR_RETURN(ExprPtr left, unary());
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            std::string op = next().text;
            GANNET_ASSIGN_OR_RETURN(ExprPtr right, unary());
            left = binary(op, std::move(left), std::move(right));
        }
        return left;
    }
    Result<ExprPtr> unary() {
        if (is_op("-") || is_op("+")) {
            std::string op = next().text;
            GANNET_ASSIGN_OR_RETURN(ExprPtr inner, expression_depth_guarded(&ExprParser::unary));
            ExprPtr e = node(Expr::Kind::kUnary);
            e->name = op;
            e->args.push_back(std::move(inner));
            return e;
        }
        GANNET_ASSIGN_OR_RETURN(ExprPtr e, primary());
        GANNET_ASSIGN_OR_RETURN(e, postfix(std::move(e)));
        return filters(std::move(e));
    }
    Status call_args(Expr* e) {
        GANNET_RETURN_IF_ERROR(expect_op("("));
        while (!is_op(")")) {
            if (peek().kind == Token::Kind::kName && t_[pos_ + 1].kind == Token::Kind::kOp
                && t_[pos_ + 1].text == "=") {
                std::string key = next().text;
                ++pos_;
                GANNET_ASSIGN_OR_RETURN(ExprPtr v, expression());
                e->kwargs.emplace_back(std::move(key), std::move(v));
            } else {
                GANNET_ASSIGN_OR_RETURN(ExprPtr v, expression());
                e->args.push_back(std::move(v));
            }
            if (!is_op(",")) {
                break;
            }
            ++pos_;
        }
        return expect_op(")");
    }
    Result<ExprPtr> postfix(ExprPtr e) {
        while (true) {
            if (is_op(".")) {
                ++pos_;
                GANNET_ASSIGN_OR_RETURN(std::string attr, expect_name());
                ExprPtr g = node(Expr::Kind::kGetAttr);
                g->name = attr;
                g->args.push_back(std::move(e));
                e = std::move(g);
            } else if (is_op("[")) {
                ++pos_;
                GANNET_ASSIGN_OR_RETURN(e, subscript(std::move(e)));
            } else if (is_op("(")) {
                ExprPtr c = node(Expr::Kind::kCall);
                c->args.push_back(std::move(e));
                GANNET_RETURN_IF_ERROR(call_args(c.get()));
                e = std::move(c);
            } else {
                return e;
            }
        }
    }
    // After "[": an index or a slice.
    Result<ExprPtr> subscript(ExprPtr target) {
        std::vector<ExprPtr> parts(1);
        bool is_slice = false;
        while (!is_op("]")) {
            if (is_op(":")) {
                ++pos_;
                is_slice = true;
                parts.emplace_back();
                continue;
            }
            GANNET_ASSIGN_OR_RETURN(parts.back(), expression());
            if (!is_op(":") && !is_op("]")) {
                return error("expected ':' or ']'");
            }
        }
        ++pos_;
        if (!is_slice) {
            if (parts[0] == nullptr) {
                return error("empty subscript");
            }
            ExprPtr g = node(Expr::Kind::kGetItem);
            g->args.push_back(std::move(target));
            g->args.push_back(std::move(parts[0]));
            return g;
        }
        if (parts.size() > 3) {
            return error("too many ':' in slice");
        }
        parts.resize(3);
        ExprPtr s = node(Expr::Kind::kSlice);
        s->args.push_back(std::move(target));
        for (ExprPtr& p : parts) {
            s->args.push_back(std::move(p));
        }
        return s;
    }
    Result<ExprPtr> filters(ExprPtr e) {
        while (true) {
            if (is_op("|")) {
                ++pos_;
                GANNET_ASSIGN_OR_RETURN(std::string name, expect_name());
                ExprPtr f = node(Expr::Kind::kFilter);
                f->name = name;
                f->args.push_back(std::move(e));
                if (is_op("(")) {
                    GANNET_RETURN_IF_ERROR(call_args(f.get()));
                }
                e = std::move(f);
            } else if (is_name("is")) {
                ++pos_;
                ExprPtr t = node(Expr::Kind::kTest);
                if (is_name("not")) {
                    ++pos_;
                    t->negated = true;
                }
                GANNET_ASSIGN_OR_RETURN(t->name, expect_name());
                t->args.push_back(std::move(e));
                if (is_op("(")) {
                    GANNET_RETURN_IF_ERROR(call_args(t.get()));
                } else if (peek().kind == Token::Kind::kString || peek().kind == Token::Kind::kInt
                           || (peek().kind == Token::Kind::kName && !is_name("and") && !is_name("or")
                               && !is_name("else") && !is_name("if") && !is_name("in") && !is_name("not"))) {
                    // "is equalto 'x'", "is sameas none": one argument without parentheses.
                    GANNET_ASSIGN_OR_RETURN(ExprPtr arg, primary());
                    t->args.push_back(std::move(arg));
                }
                e = std::move(t);
            } else {
                return e;
            }
        }
    }
    Result<ExprPtr> primary() {
        const size_t start = pos_;  // next() does not advance past kEnd, so the error rewinds to here
        const Token tok = next();
        switch (tok.kind) {
            case Token::Kind::kString: {
                ExprPtr e = node(Expr::Kind::kLiteral);
                std::string s = tok.text;
                while (peek().kind == Token::Kind::kString) {  // adjacent literals concatenate
                    s += next().text;
                }
                e->literal = Value::string(std::move(s));
                return e;
            }
            case Token::Kind::kInt:
            case Token::Kind::kFloat: {
                ExprPtr e = node(Expr::Kind::kLiteral);
                // strtoll/strtod saturate instead of throwing on absurd literals.
                e->literal = tok.kind == Token::Kind::kInt ? Value::integer(std::strtoll(tok.text.c_str(), nullptr, 10))
                                                           : Value::number(std::strtod(tok.text.c_str(), nullptr));
                return e;
            }
            case Token::Kind::kName: {
                ExprPtr e = node(Expr::Kind::kLiteral);
                if (tok.text == "true" || tok.text == "True") {
                    e->literal = Value::boolean(true);
                } else if (tok.text == "false" || tok.text == "False") {
                    e->literal = Value::boolean(false);
                } else if (tok.text == "none" || tok.text == "None") {
                    e->literal = Value::none();
                } else {
                    e->kind = Expr::Kind::kName;
                    e->name = tok.text;
                }
                return e;
            }
            case Token::Kind::kOp: {
                if (tok.text == "(") {
                    GANNET_ASSIGN_OR_RETURN(ExprPtr e, expression());
                    if (is_op(",")) {  // a tuple: treated as a list
                        ExprPtr list = node(Expr::Kind::kList);
                        list->args.push_back(std::move(e));
                        while (is_op(",")) {
                            ++pos_;
                            if (is_op(")")) {
                                break;
                            }
                            GANNET_ASSIGN_OR_RETURN(ExprPtr item, expression());
                            list->args.push_back(std::move(item));
                        }
                        e = std::move(list);
                    }
                    GANNET_RETURN_IF_ERROR(expect_op(")"));
                    return e;
                }
                if (tok.text == "[" || tok.text == "{") {
                    const bool is_list = tok.text == "[";
                    ExprPtr e = node(is_list ? Expr::Kind::kList : Expr::Kind::kDict);
                    const char* close = is_list ? "]" : "}";
                    while (!is_op(close)) {
                        GANNET_ASSIGN_OR_RETURN(ExprPtr item, expression());
                        e->args.push_back(std::move(item));
                        if (!is_list) {
                            GANNET_RETURN_IF_ERROR(expect_op(":"));
                            GANNET_ASSIGN_OR_RETURN(ExprPtr value, expression());
                            e->args.push_back(std::move(value));
                        }
                        if (!is_op(",")) {
                            break;
                        }
                        ++pos_;
                    }
                    GANNET_RETURN_IF_ERROR(expect_op(close));
                    return e;
                }
                break;
            }
            default: break;
        }
        pos_ = start;
        return error("unexpected token");
    }

    static constexpr int kMaxDepth = 200;
    std::vector<Token> t_;
    size_t pos_ = 0;
    int line_;
    int depth_ = 0;
};

// Builds statements from segments; `end_tags` are the tags that close the current block.
class StmtParser {
public:
    explicit StmtParser(std::vector<Segment> segs) : segs_(std::move(segs)) {}

    // Parses until one of `end_tags` (returned in *end, with its parser positioned after the tag
    // name) or the end of input (only allowed when end_tags is empty).
    Status parse_block(std::vector<Stmt>* out, const std::vector<std::string>& end_tags, std::string* end,
                       std::unique_ptr<ExprParser>* end_parser) {
        while (i_ < segs_.size()) {
            const Segment& seg = segs_[i_++];
            if (seg.kind == Segment::Kind::kText) {
                Stmt s;
                s.kind = Stmt::Kind::kText;
                s.text = seg.content;
                out->push_back(std::move(s));
                continue;
            }
            GANNET_ASSIGN_OR_RETURN(std::vector<Token> toks, lex(seg.content, seg.line));
            auto p = std::make_unique<ExprParser>(std::move(toks), seg.line);
            if (seg.kind == Segment::Kind::kExpr) {
                Stmt s;
                s.kind = Stmt::Kind::kOutput;
                s.line = seg.line;
                GANNET_ASSIGN_OR_RETURN(s.expr, p->expression());
                GANNET_RETURN_IF_ERROR(expect_end(*p));
                out->push_back(std::move(s));
                continue;
            }
            GANNET_ASSIGN_OR_RETURN(std::string tag, p->expect_name());
            for (const std::string& e : end_tags) {
                if (tag == e) {
                    *end = tag;
                    *end_parser = std::move(p);
                    return Status();
                }
            }
            GANNET_RETURN_IF_ERROR(statement(tag, *p, seg.line, out));
        }
        if (!end_tags.empty()) {
            return make_error(ErrorCode::kInvalidArgument, "chat template: missing {%% %s %%}",
                              end_tags.back().c_str());
        }
        return Status();
    }

private:
    static Status expect_end(const ExprParser& p) {
        return p.at_end() ? Status() : p.error("unexpected trailing tokens");
    }

    Status statement(const std::string& tag, ExprParser& p, int line, std::vector<Stmt>* out) {
        if (depth_ >= kMaxBlockDepth) {
            return make_error(ErrorCode::kInvalidArgument, "chat template: line %d: blocks nested too deeply", line);
        }
        ++depth_;
        Status st = statement_body(tag, p, line, out);
        --depth_;
        return st;
    }

    Status statement_body(const std::string& tag, ExprParser& p, int line, std::vector<Stmt>* out) {
        Stmt s;
        s.line = line;
        std::string end;
        std::unique_ptr<ExprParser> endp;
        if (tag == "if") {
            s.kind = Stmt::Kind::kIf;
            GANNET_ASSIGN_OR_RETURN(ExprPtr cond, p.expression());
            GANNET_RETURN_IF_ERROR(expect_end(p));
            while (true) {
                std::vector<Stmt> body;
                GANNET_RETURN_IF_ERROR(parse_block(&body, {"elif", "else", "endif"}, &end, &endp));
                s.branches.emplace_back(std::move(cond), std::move(body));
                if (end == "endif") {
                    break;
                }
                if (end == "elif") {
                    GANNET_ASSIGN_OR_RETURN(cond, endp->expression());
                    GANNET_RETURN_IF_ERROR(expect_end(*endp));
                } else {
                    cond = nullptr;
                    GANNET_RETURN_IF_ERROR(expect_end(*endp));
                    std::vector<Stmt> else_body;
                    GANNET_RETURN_IF_ERROR(parse_block(&else_body, {"endif"}, &end, &endp));
                    s.branches.emplace_back(nullptr, std::move(else_body));
                    break;
                }
            }
        } else if (tag == "for") {
            s.kind = Stmt::Kind::kFor;
            do {
                GANNET_ASSIGN_OR_RETURN(std::string var, p.expect_name());
                s.targets.push_back(var);
            } while (p.is_op(",") && (p.next(), true));
            if (!p.is_name("in")) {
                return p.error("expected 'in'");
            }
            p.next();
            GANNET_ASSIGN_OR_RETURN(s.expr, p.or_expr());
            if (p.is_name("if")) {
                p.next();
                GANNET_ASSIGN_OR_RETURN(s.loop_filter, p.or_expr());
            }
            GANNET_RETURN_IF_ERROR(expect_end(p));
            GANNET_RETURN_IF_ERROR(parse_block(&s.body, {"else", "endfor"}, &end, &endp));
            if (end == "else") {
                GANNET_RETURN_IF_ERROR(parse_block(&s.else_body, {"endfor"}, &end, &endp));
            }
        } else if (tag == "set") {
            GANNET_ASSIGN_OR_RETURN(std::string name, p.expect_name());
            s.targets.push_back(name);
            if (p.is_op(".")) {
                p.next();
                GANNET_ASSIGN_OR_RETURN(std::string attr, p.expect_name());
                s.targets.push_back(attr);
            }
            if (p.is_op("=")) {
                p.next();
                s.kind = Stmt::Kind::kSet;
                GANNET_ASSIGN_OR_RETURN(s.expr, p.expression());
                GANNET_RETURN_IF_ERROR(expect_end(p));
            } else {
                s.kind = Stmt::Kind::kSetBlock;
                GANNET_RETURN_IF_ERROR(expect_end(p));
                GANNET_RETURN_IF_ERROR(parse_block(&s.body, {"endset"}, &end, &endp));
            }
        } else if (tag == "break" || tag == "continue") {
            s.kind = tag == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue;
        } else if (tag == "generation" || tag == "endgeneration") {
            return Status();  // HF's assistant-mask markers: no output of their own
        } else if (tag == "macro") {
            s.kind = Stmt::Kind::kMacro;
            GANNET_ASSIGN_OR_RETURN(std::string name, p.expect_name());
            s.targets.push_back(name);
            GANNET_RETURN_IF_ERROR(p.expect_op("("));
            while (!p.is_op(")")) {
                GANNET_ASSIGN_OR_RETURN(std::string param, p.expect_name());
                s.targets.push_back(param);
                ExprPtr dflt;
                if (p.is_op("=")) {
                    p.next();
                    GANNET_ASSIGN_OR_RETURN(dflt, p.expression());
                }
                s.defaults.push_back(std::move(dflt));
                if (!p.is_op(",")) {
                    break;
                }
                p.next();
            }
            GANNET_RETURN_IF_ERROR(p.expect_op(")"));
            GANNET_RETURN_IF_ERROR(expect_end(p));
            GANNET_RETURN_IF_ERROR(parse_block(&s.body, {"endmacro"}, &end, &endp));
        } else if (tag == "filter") {
            s.kind = Stmt::Kind::kFilterBlock;
            GANNET_ASSIGN_OR_RETURN(s.expr, p.filter_tail());
            GANNET_RETURN_IF_ERROR(expect_end(p));
            GANNET_RETURN_IF_ERROR(parse_block(&s.body, {"endfilter"}, &end, &endp));
        } else if (tag == "call" || tag == "include" || tag == "import" || tag == "block" || tag == "extends"
                   || tag == "raw" || tag == "with") {
            return make_error(ErrorCode::kUnimplemented, "chat template: line %d: {%% %s %%} is not supported", line,
                              tag.c_str());
        } else {
            return make_error(ErrorCode::kInvalidArgument, "chat template: line %d: unknown tag '%s'", line,
                              tag.c_str());
        }
        out->push_back(std::move(s));
        return Status();
    }

    static constexpr int kMaxBlockDepth = 100;  // real templates nest a handful of levels
    std::vector<Segment> segs_;
    size_t i_ = 0;
    int depth_ = 0;
};

}  // namespace

Result<Template> Template::parse(std::string_view source) {
    GANNET_ASSIGN_OR_RETURN(std::vector<Segment> segs, segment(source));
    StmtParser parser(std::move(segs));
    auto body = std::make_shared<std::vector<Stmt>>();
    std::string end;
    std::unique_ptr<ExprParser> endp;
    GANNET_RETURN_IF_ERROR(parser.parse_block(body.get(), {}, &end, &endp));
    Template t;
    t.body_ = std::move(body);
    return t;
}

}  // namespace gannet::tokenizer::jinja
