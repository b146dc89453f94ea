#include "server/budget_tool_meter.h"

namespace gannet::server {

MeteredWriter::~MeteredWriter() {
    finish(HttpResponse{.status = 0, .headers = {}, .body = ""});
}

void MeteredWriter::begin_stream(int status, HeaderList headers) {
    stream_.status = status;
    stream_.headers = std::move(headers);
}

void MeteredWriter::finish(HttpResponse answer) {
    if (is_settled_.exchange(true)) {
        return;
    }
    settle_(std::move(answer), *out_);
}

}  // namespace gannet::server
