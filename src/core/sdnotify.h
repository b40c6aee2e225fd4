/* systemd's readiness protocol (sd_notify(3)), by hand: one datagram to the unix socket named by
 * $NOTIFY_SOCKET ("/path" or "@abstract"). Without the variable it does nothing. Done here
 * rather than with libsystemd so that the binary has no systemd dependency (the protocol is a
 * single sendto; see docs/config.md). */
#ifndef TG_CORE_SDNOTIFY_H
#define TG_CORE_SDNOTIFY_H

/* Sends `state` ("READY=1", "STOPPING=1", "RELOADING=1\nMONOTONIC_USEC=…", "STATUS=…").
 * Returns 1 if sent, 0 if there is no $NOTIFY_SOCKET, -1 on error (logged at debug). */
int tg_sd_notify(const char *state);
/* "RELOADING=1" with the MONOTONIC_USEC that systemd's Type=notify-reload expects. */
int tg_sd_notify_reloading(void);

#endif
