package game

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
)

// Limits of the profile texts.
const (
	MaxNameRunes  = 16
	MaxMottoRunes = 64
)

// printable reports valid UTF-8 made of printable characters only.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// ValidName reports whether name can be a player name: 1-16 printable
// characters, no leading or trailing space.
func ValidName(name string) bool {
	n := utf8.RuneCountInString(name)
	return n >= 1 && n <= MaxNameRunes && printable(name) && strings.TrimSpace(name) == name
}

// decideRename sets a new name. Uniqueness is the caller's reservation in
// the names bucket; renaming to the current name changes nothing.
func decideRename(s *Player, uid int64, name string, now int64) ([]events.Emit, def.ResCode) {
	if !ValidName(name) {
		return nil, def.ResCode_RC_NAME_INVALID
	}
	if s.GetUser().GetName() == name {
		return nil, def.ResCode_RC_OK
	}
	return []events.Emit{{ID: uid, Event: &evt.Renamed{Name: proto.String(name), At: proto.Int64(now)}}}, def.ResCode_RC_OK
}

// decideIcon sets the icon (any non-negative number).
func decideIcon(s *Player, uid int64, icon int32, now int64) ([]events.Emit, def.ResCode) {
	if icon < 0 {
		return nil, def.ResCode_RC_BAD_REQUEST
	}
	if s.GetUser().GetIcon() == icon && s.GetUser().Icon != nil {
		return nil, def.ResCode_RC_OK
	}
	return []events.Emit{{ID: uid, Event: &evt.IconChanged{Icon: proto.Int32(icon), At: proto.Int64(now)}}}, def.ResCode_RC_OK
}

// decideMotto sets the motto: up to 64 printable characters (empty clears it).
func decideMotto(s *Player, uid int64, motto string, now int64) ([]events.Emit, def.ResCode) {
	if utf8.RuneCountInString(motto) > MaxMottoRunes || !printable(motto) {
		return nil, def.ResCode_RC_BAD_REQUEST
	}
	if s.GetUser().GetMotto() == motto && s.GetUser().Motto != nil {
		return nil, def.ResCode_RC_OK
	}
	return []events.Emit{{ID: uid, Event: &evt.MottoChanged{Motto: proto.String(motto), At: proto.Int64(now)}}}, def.ResCode_RC_OK
}

// decideSceneEnter moves the player into a scene of def.SceneType (not NONE).
func decideSceneEnter(s *Player, uid int64, scene int32, now int64) ([]events.Emit, def.ResCode) {
	if _, ok := def.SceneType_name[scene]; !ok || scene == int32(def.SceneType_SCENE_NONE) {
		return nil, def.ResCode_RC_BAD_REQUEST
	}
	if s.GetScene() == scene {
		return nil, def.ResCode_RC_OK
	}
	return []events.Emit{{ID: uid, Event: &evt.SceneEntered{Scene: proto.Int32(scene), At: proto.Int64(now)}}}, def.ResCode_RC_OK
}

// decideSceneLeave takes the player out of its scene, if in one.
func decideSceneLeave(s *Player, uid int64, now int64) ([]events.Emit, def.ResCode) {
	if s.GetScene() == int32(def.SceneType_SCENE_NONE) {
		return nil, def.ResCode_RC_OK
	}
	return []events.Emit{{ID: uid, Event: &evt.SceneLeft{At: proto.Int64(now)}}}, def.ResCode_RC_OK
}
