/* Internal to gate/. */
#ifndef TG_GATE_INT_H
#define TG_GATE_INT_H

#include "gate/gate.h"

/* Quota refusals of requests whose worst case did not fit while the limit itself was not
 * reached (admit.c counts, settle.c reports with the other counters). */
extern _Atomic unsigned long long tg_gate__worst_case_refusals;
/* tickets holding a reservation now (+1 when one becomes active, -1 when settled or released) */
extern _Atomic long long tg_gate__outstanding;

#endif
