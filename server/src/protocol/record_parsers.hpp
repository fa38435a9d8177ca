// Internal: one parser per record kind of protocol v1, shared by ParseRecordBatch and
// ParseFinish. Each reads a record object (whose "kind" the caller has already matched) into
// its model type and returns false after reporting the first problem to the Reader.
// Thread-safety: as the Reader they are given (one parse, one thread).
#pragma once

#include "model/records.hpp"
#include "protocol/reader.hpp"

namespace atlas::protocol::detail {

// Telemetry recorded during training (telemetry_records.cpp).
bool ParseStepRecord(Reader& reader, const dom::object& object, const Path& path,
                     model::StepRecord& out);
bool ParseEpochRecord(Reader& reader, const dom::object& object, const Path& path,
                      model::EpochRecord& out);
bool ParseLayerStatsRecord(Reader& reader, const dom::object& object, const Path& path,
                           model::LayerStatsRecord& out);
bool ParseProfileRecord(Reader& reader, const dom::object& object, const Path& path,
                        model::ProfileRecord& out);
bool ParseEventRecord(Reader& reader, const dom::object& object, const Path& path,
                      model::EventRecord& out);

// Facts about the run itself (run_records.cpp).
bool ParseHyperparametersRecord(Reader& reader, const dom::object& object, const Path& path,
                                model::HyperparametersRecord& out);
bool ParseArchitectureRecord(Reader& reader, const dom::object& object, const Path& path,
                             model::ArchitectureRecord& out);
// `in_batch`: the object sits in a batch and carries "kind"; the finish endpoint takes the same
// object without it.
bool ParseFinishRecord(Reader& reader, const dom::object& object, const Path& path, bool in_batch,
                       model::FinishRecord& out);

}  // namespace atlas::protocol::detail
