import { z } from 'zod';

// Only the response fields the client reads; everything else GitLab sends is ignored.

export const CurrentUser = z.object({ id: z.number().int() });

export const MergeRequestNote = z.object({
  id: z.number().int(),
  body: z.string(),
  system: z.boolean(),
  author: z.object({ id: z.number().int() }),
});
export type MergeRequestNote = z.infer<typeof MergeRequestNote>;

export const MergeRequestNotes = z.array(MergeRequestNote);

export const Member = z.object({ access_level: z.number().int() });

// GET /user: who a token belongs to (GitLab itself refuses the token of a blocked user).
export const TokenUser = z.object({ id: z.number().int(), username: z.string() });

const UserBasic = z.object({ id: z.number().int(), username: z.string() });

export const MergeRequest = z.object({ iid: z.number().int(), author: UserBasic });
