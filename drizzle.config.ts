import { defineConfig } from 'drizzle-kit';

// `npm run db:generate` writes SQL migrations into ./drizzle from the schema;
// the store applies them at open (src/store/sqlite.ts).
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/store/schema.ts',
  out: './drizzle',
});
