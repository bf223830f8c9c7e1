import { defineConfig } from 'drizzle-kit';

// The PostgreSQL migrations (`npm run db:generate` writes both dialects); the PostgreSQL
// store applies them at open under an advisory lock (src/store/postgres.ts).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/store/schema.pg.ts',
  out: './drizzle/postgres',
});
