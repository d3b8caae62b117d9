import { createHmac } from 'node:crypto';

/**
 * DingTalk custom robot signing ("加签"): sign = Base64(HmacSHA256(key = secret, data =
 * `${timestamp}\n${secret}`)), timestamp in milliseconds, both sent as query parameters next to
 * access_token (URL-encoded); DingTalk refuses a timestamp more than an hour off.
 * https://open.dingtalk.com/document/robots/customize-robot-security-settings
 */
export function dingtalkSign(secret: string, timestampMs: number): string {
  return createHmac('sha256', secret).update(`${timestampMs}\n${secret}`, 'utf8').digest('base64');
}

/** The robot URL with timestamp and sign added (the access_token query parameter is kept). */
export function signedDingtalkUrl(url: string, secret: string, now: number = Date.now()): string {
  const u = new URL(url);
  u.searchParams.set('timestamp', String(now));
  u.searchParams.set('sign', dingtalkSign(secret, now));
  return u.toString();
}
