"""GStreamer's RTSP server (gst-rtsp-server via GObject introspection) serving /main and /sub.

Each mount re-serves H.264 RTP that arrives on a UDP port (the camera simulator's encoder sends
it there), so the picture is the simulator's, and the server is a real, independent RTSP server.
Usage: /usr/bin/python3 gst-rtsp-server.py <rtsp-port> <main-udp-port> <sub-udp-port> <user> <password>
Prints "READY" once listening.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

Gst.init(None)
port, main_udp, sub_udp, user, password = sys.argv[1:6]

server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)

auth = GstRtspServer.RTSPAuth()
token = GstRtspServer.RTSPToken()
token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
auth.add_digest(user, password, token)
auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
server.set_auth(auth)

mounts = server.get_mount_points()
for path, udp in (("/main", main_udp), ("/sub", sub_udp)):
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( udpsrc port={udp} address=127.0.0.1 caps="application/x-rtp,media=video,clock-rate=90000,'
        f'encoding-name=H264,payload=96" ! rtph264depay ! h264parse config-interval=-1 '
        f"! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    factory.set_shared(True)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("viewer", "media.factory.access", True)
    permissions.add_permission_for_role("viewer", "media.factory.construct", True)
    factory.set_permissions(permissions)
    mounts.add_factory(path, factory)

if server.attach(None) == 0:
    print("FAILED to listen", flush=True)
    sys.exit(1)
print("READY", flush=True)
GLib.MainLoop().run()
