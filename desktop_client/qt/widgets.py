"""The widgets the wiring uses, by one import: the alarm (per screen, banner, controller),
the tray and its fallback window, the offline warning, the trigger countdown."""

from desktop_client.qt.alarm import AlarmScreens, AlarmWindow, Banner
from desktop_client.qt.countdown import TriggerCountdown
from desktop_client.qt.tray import OfflineWindow, Tray, TrayFallbackWindow

__all__ = [
    "AlarmScreens",
    "AlarmWindow",
    "Banner",
    "OfflineWindow",
    "Tray",
    "TrayFallbackWindow",
    "TriggerCountdown",
]
