/** The web app's roles; a user may hold several. */
export const ROLES = ['admin', 'clerk', 'ministry', 'archivist'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_LABELS: Record<Role, string> = {
  admin: 'Administration',
  clerk: 'Sachbearbeitung',
  ministry: 'Unterzeichnung Ministerium',
  archivist: 'Archiv',
};

export const isRole = (s: string): s is Role => (ROLES as readonly string[]).includes(s);
