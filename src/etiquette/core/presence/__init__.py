"""Staff presence at the window: camera frames in, 离岗 (off-post) incidents out.

Core (records in, records out; no OpenCV, no onnxruntime): `records`, `rules`, `roi`,
`tracker`, `hours`, `offpost`. Adapters: `centerface` (the detector on onnxruntime),
`container` (a file in one PyAV pass, audio included), `camera` (OpenCV live sources).
`watcher` wires them for one stream. Importing this package loads only the core.
"""

from etiquette.core.presence.offpost import OffPostJudgement, judge, off_post_incident
from etiquette.core.presence.records import (
                                        Absence,
                                        Box,
                                        DeclaredPause,
                                        Detection,
                                        PresenceChange,
                                        PresenceEvent,
                                        Sighting,
)
from etiquette.core.presence.roi import Roi, sighting
from etiquette.core.presence.rules import (
                                        PresenceRules,
                                        PresenceRulesError,
                                        load_pauses,
                                        load_presence_rules,
)
from etiquette.core.presence.tracker import PresenceTracker, TrackerOptions

__all__ = [
    "Absence", "Box", "DeclaredPause", "Detection", "OffPostJudgement", "PresenceChange",
    "PresenceEvent", "PresenceRules", "PresenceRulesError", "PresenceTracker", "Roi", "Sighting",
    "TrackerOptions", "judge", "load_pauses", "load_presence_rules", "off_post_incident",
    "sighting",
]
