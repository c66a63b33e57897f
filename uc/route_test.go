package uc

import (
	"testing"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
	"github.com/qeetap/hive/proto/msg"
)

// A route's answers are of the Res type it was declared with, carrying the
// code; a type without the int32 code at field 1 is refused when declared.
func TestRouteAnswerType(t *testing.T) {
	m := answerOf[msg.BindPhone_Res](def.ResCode_RC_ACCOUNT_PHONE_DUPLICATE)
	r, ok := m.(*msg.BindPhone_Res)
	if !ok || r.GetCode() != int32(def.ResCode_RC_ACCOUNT_PHONE_DUPLICATE) {
		t.Fatalf("answerOf[msg.BindPhone_Res] = %T %v", m, m)
	}
	checkAnswer[msg.ResetPassword_Res]() // every uc Res passes
	defer func() {
		if recover() == nil {
			t.Fatal("a route answered with evt.GuestCreated (field 1 is account_id) was accepted")
		}
	}()
	checkAnswer[evt.GuestCreated]()
}
