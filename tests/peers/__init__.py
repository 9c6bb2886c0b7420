"""Local stand-ins for the push services, speaking their real protocols: `webpush` (a Web Push
service: VAPID check, aes128gcm decryption) and `apns` (an HTTP/2 + TLS APNs). Used by the
tests, the push benchmark and the demo."""
