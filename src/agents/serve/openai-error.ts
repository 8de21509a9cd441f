/**
 * Errors of `marshal serve` in the OpenAI shape (`{error: {message, type, param, code}}`) with the
 * status codes the OpenAI API uses, so every OpenAI client reports them as it would the original:
 * 400 invalid_request_error, 401 invalid_api_key, 404 model_not_found / unknown route, 405, 413,
 * 429 rate_limit_exceeded (with Retry-After), 500 server_error, 502 when no agent answered.
 */

/** An error response: status, body, extra headers. */
export interface OpenAIErrorResponse {
  status: number;
  body: { error: { message: string; type: string; param: string | null; code: string | null } };
  headers?: Record<string, string>;
}

/** Builds an error response. */
export function openaiError(
  status: number,
  message: string,
  options: {
    type?: string;
    param?: string | null;
    code?: string | null;
    headers?: Record<string, string>;
  } = {},
): OpenAIErrorResponse {
  const type =
    options.type ??
    (status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : 'invalid_request_error');
  const response: OpenAIErrorResponse = {
    status,
    body: { error: { message, type, param: options.param ?? null, code: options.code ?? null } },
  };
  if (options.headers) response.headers = options.headers;
  return response;
}

/** A request body that fails validation: 400 naming the field (`param`). */
export class BadRequest extends Error {
  readonly param: string | null;
  constructor(message: string, param: string | null = null) {
    super(message);
    this.name = 'BadRequest';
    this.param = param;
  }
}
