package events

import (
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// The JetStream API error codes the store tells apart, in one place. Each is
// the server's code (nats-server's errors.json) for what its comment says.
const (
	// codeNoMessage (10037): a direct get found no message, here an
	// aggregate with no events yet.
	codeNoMessage = jetstream.JSErrCodeMessageNotFound
	// codeMsgIDInProcess (10158): a publish with this Nats-Msg-Id is still
	// being stored; its outcome is not known yet, so reload and decide again.
	codeMsgIDInProcess jetstream.ErrorCode = 10158
	// codeBatchDuplicateMsgID (10201): an atomic batch holds a Nats-Msg-Id
	// the stream already stored, so the whole batch was refused (ours are
	// unique within a batch: the same command's earlier batch committed).
	codeBatchDuplicateMsgID = jetstreamext.JSErrCodeBatchPublishDuplicateMsgID
	// codeBatchTooManyInflight (10210): the server holds
	// too many open atomic batches; load, not a verdict on this one.
	codeBatchTooManyInflight = jetstreamext.JSErrCodeAtomicPublishTooManyInflight
	// codeBatchIncomplete (10176): the server dropped an atomic batch before
	// its commit (a timeout or a gap); sending it again may succeed.
	codeBatchIncomplete = jetstreamext.JSErrCodeBatchPublishIncomplete
)
