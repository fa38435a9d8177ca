// POST /api/v1/runs, /runs/{id}/records and /runs/{id}/finish.
#include "api/handlers.hpp"
#include "api/responses.hpp"
#include "model/runs.hpp"

namespace atlas::api {
namespace {

// Tells every ingest listener about a stored batch (live/ingest_listener.hpp).
void NotifyStored(const ApiOptions& opt, const std::string& run_id, model::RecordBatch&& batch,
                  const model::IngestResult& result) {
  if (opt.ingest_listeners.empty()) return;
  const auto shared = std::make_shared<const model::RecordBatch>(std::move(batch));
  for (live::IngestListener* listener : opt.ingest_listeners) {
    listener->OnBatchStored(run_id, shared, result);
  }
}

http::Response IngestBatch(const http::Request& req, store::Store& store,
                           model::RecordBatch&& batch, const ApiOptions& opt) {
  auto result = store.Ingest(req.params.at("id"), batch);
  if (!result.ok()) return StoreError(result.status());
  NotifyStored(opt, req.params.at("id"), std::move(batch), *result);
  model::Json reply = {{"accepted", result->accepted}, {"duplicates", result->duplicates}};
  // Control actions ride on the reply the observer gets anyway (docs/control.md, delivery).
  if (opt.control != nullptr) {
    model::Json actions = opt.control->PendingForIngest(req.params.at("id"));
    if (!actions.empty()) reply["actions"] = std::move(actions);
  }
  return JsonResponse(200, reply);
}

}  // namespace

http::Response CreateRun(const http::Request& req, store::Store& store, const ApiOptions& opt) {
  if (auto rejected = RequireJsonBody(req)) return *rejected;
  auto parsed = protocol::ParseRunCreate(req.body, opt.limits);
  if (auto* error = std::get_if<protocol::ParseError>(&parsed)) return ParseErrorResponse(*error);
  auto result = store.CreateOrResumeRun(std::get<model::RunCreate>(parsed));
  if (!result.ok()) return StoreError(result.status());
  const model::Run& run = result->run;
  for (live::IngestListener* listener : opt.ingest_listeners) {
    listener->OnRunCreated(run, result->resumed);
  }
  return JsonResponse(result->resumed ? 200 : 201, {{"id", run.id},
                                                    {"project_id", run.project_id},
                                                    {"project", run.project_name},
                                                    {"name", run.name},
                                                    {"status", model::ToString(run.status)},
                                                    {"resumed", result->resumed}});
}

http::Response PostRecords(const http::Request& req, store::Store& store, const ApiOptions& opt) {
  if (auto rejected = RequireJsonBody(req)) return *rejected;
  auto parsed = protocol::ParseRecordBatch(req.body, opt.limits);
  if (auto* error = std::get_if<protocol::ParseError>(&parsed)) return ParseErrorResponse(*error);
  return IngestBatch(req, store, std::get<model::RecordBatch>(std::move(parsed)), opt);
}

http::Response PostFinish(const http::Request& req, store::Store& store, const ApiOptions& opt) {
  if (auto rejected = RequireJsonBody(req)) return *rejected;
  auto parsed = protocol::ParseFinish(req.body, opt.limits);
  if (auto* error = std::get_if<protocol::ParseError>(&parsed)) return ParseErrorResponse(*error);
  model::RecordBatch batch;
  batch.finishes.push_back(std::get<model::FinishRecord>(std::move(parsed)));
  auto result = store.Ingest(req.params.at("id"), batch);
  if (!result.ok()) return StoreError(result.status());
  NotifyStored(opt, req.params.at("id"), std::move(batch), *result);
  auto run = store.GetRun(req.params.at("id"));
  if (!run.ok()) return StoreError(run.status());
  return JsonResponse(200, {{"accepted", result->accepted},
                            {"duplicates", result->duplicates},
                            {"status", model::ToString(run->status)}});
}

}  // namespace atlas::api
