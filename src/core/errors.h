/* The one error table (SPEC.md §4). Each row: internal code, HTTP status, OpenAI `type`,
 * OpenAI `code` (NULL → JSON null), default message. The API layer turns a code into the
 * OpenAI error body in exactly one place (api/errors.c). */
#ifndef TG_CORE_ERRORS_H
#define TG_CORE_ERRORS_H

#include <stddef.h>

#define TG_ERR_MAP(X)                                                                              \
    X(NO_KEY, 401, "invalid_request_error", NULL,                                                  \
      "You didn't provide an API key. You need to provide your API key in an Authorization "       \
      "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")                           \
    X(INVALID_KEY, 401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.") \
    X(ACCOUNT_DEACTIVATED, 401, "invalid_request_error", "account_deactivated",                    \
      "This key is associated with a deactivated account. If you feel this is an error, contact "  \
      "your platform's operator.")                                                                \
    X(MISSING_SCOPE, 401, "invalid_request_error", NULL,                                           \
      "You have insufficient permissions for this operation.")                                     \
    X(INVALID_JSON, 400, "invalid_request_error", NULL,                                            \
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't "     \
      "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "    \
      "sent was not valid JSON. If you have trouble figuring out how to fix this, please contact " \
      "us through our help center at help.openai.com.)")                                           \
    X(MISSING_PARAM, 400, "invalid_request_error", "missing_required_parameter",                   \
      "Missing required parameter.")                                                               \
    X(INVALID_TYPE, 400, "invalid_request_error", "invalid_type", "Invalid type for parameter.")   \
    X(INVALID_VALUE, 400, "invalid_request_error", "invalid_value", "Invalid value.")              \
    X(EMPTY_ARRAY, 400, "invalid_request_error", "empty_array", "Invalid empty array.")            \
    X(UNSUPPORTED_PARAM, 400, "invalid_request_error", "unsupported_parameter",                    \
      "Unsupported parameter.")                                                                    \
    X(BAD_REQUEST, 400, "invalid_request_error", NULL, "Bad request.")                             \
    X(CONTEXT_LENGTH, 400, "invalid_request_error", "context_length_exceeded",                    \
      "The request does not fit the model's context window.")                                   \
    X(MODEL_NOT_FOUND, 404, "invalid_request_error", "model_not_found",                            \
      "The model does not exist or you do not have access to it.")                                 \
    X(NOT_FOUND, 404, "invalid_request_error", NULL, "Not found.")                                 \
    X(UNKNOWN_URL, 404, "invalid_request_error", "unknown_url", "Unknown request URL.")            \
    X(METHOD_NOT_ALLOWED, 405, "invalid_request_error", NULL, "Method not allowed.")               \
    X(CONFLICT, 409, "invalid_request_error", NULL, "Conflict.")                                   \
    X(BODY_TOO_LARGE, 413, "invalid_request_error", NULL, "Request body too large.")              \
    X(HEADERS_TOO_LARGE, 431, "invalid_request_error", NULL, "Request headers too large.")         \
    X(RATE_LIMIT_REQUESTS, 429, "requests", "rate_limit_exceeded", "Rate limit reached.")        \
    X(RATE_LIMIT_TOKENS, 429, "tokens", "rate_limit_exceeded", "Rate limit reached.")            \
    X(CREDIT_EXHAUSTED, 429, "insufficient_quota", "credit_balance_exhausted",                     \
      "You exceeded your current quota, please check your plan and billing details. For more "   \
      "information on this error, read the docs: "                                               \
      "https://platform.openai.com/docs/guides/error-codes/api-errors.")                         \
    X(ORG_SPEND_LIMIT, 429, "insufficient_quota", "organization_spend_limit_exceeded",             \
      "Your organization has reached its monthly spend limit. Raise or remove the limit to "     \
      "continue.")                                                                                \
    X(PROJECT_SPEND_LIMIT, 429, "insufficient_quota", "project_spend_limit_exceeded",              \
      "This project has reached its monthly spend limit. Raise or remove the limit to "          \
      "continue.")                                                                                \
    X(CARD_DECLINED, 402, "card_error", "card_declined", "Your card was declined.")              \
    X(INSUFFICIENT_FUNDS, 402, "card_error", "insufficient_funds",                                 \
      "Your card has insufficient funds.")                                                         \
    X(EXPIRED_CARD, 402, "card_error", "expired_card", "Your card has expired.")                  \
    X(PAYMENT_FAILED, 402, "card_error", "payment_failed", "The payment could not be completed.") \
    X(INVALID_SIGNATURE, 400, "invalid_request_error", "invalid_signature",                        \
      "The webhook signature could not be verified.")                                              \
    X(PAYMENT_PROVIDER_FAILED, 502, "server_error", NULL,                                          \
      "The payment provider could not be reached or refused the request.")                        \
    X(USAGE_LIMIT, 429, "insufficient_quota", "organization_usage_limit_exceeded",                 \
      "Your organization has reached the monthly usage limit of its usage tier.")                \
    X(BELOW_USAGE_TIER, 400, "invalid_request_error", "below_usage_tier",                         \
      "This model is not available on your organization's usage tier.")                         \
    X(UPSTREAM_FAILED, 502, "server_error", NULL,                                                  \
      "The upstream provider could not be reached or returned an invalid response.")               \
    X(UPSTREAM_TIMEOUT, 504, "server_error", NULL, "The upstream provider timed out.")             \
    X(CSRF, 403, "invalid_request_error", "csrf_token_invalid",                                   \
      "This request needs the X-CSRF-Token header of your console session. Reload the page and " \
      "try again.")                                                                               \
    X(NOT_LOGGED_IN, 401, "invalid_request_error", "not_logged_in",                              \
      "You are not logged in, or your session has expired.")                                    \
    X(INVALID_CREDENTIALS, 401, "invalid_request_error", "invalid_credentials",                  \
      "Incorrect email or password.")                                                           \
    X(LOGIN_THROTTLED, 429, "invalid_request_error", "too_many_login_attempts",                  \
      "Too many failed login attempts. Try again later.")                                       \
    X(SIGNUP_CLOSED, 403, "invalid_request_error", "signup_closed",                              \
      "Sign-up is closed on this server.")                                                      \
    X(INTERNAL, 500, "server_error", NULL, "The server had an error while processing your request.") \
    X(UNAVAILABLE, 503, "server_error", NULL, "The server is shutting down or overloaded.")

typedef enum {
    TG_OK = 0,
#define X(name, status, type, code, msg) TG_E_##name,
    TG_ERR_MAP(X)
#undef X
        TG_E__COUNT
} tg_err_t;

typedef struct {
    const char *name;
    int status;
    const char *type;
    const char *code; /* NULL: JSON null */
    const char *message;
} tg_err_info_t;

/* Returns the table row for `err` (never NULL; TG_OK maps to INTERNAL). */
const tg_err_info_t *tg_err_info(tg_err_t err);

#endif
