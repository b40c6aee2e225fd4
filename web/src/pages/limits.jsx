// Placeholder until the limits page lands (it is written by another helper).
export default function LimitsPage() {
  return <div class="page" />;
}

export const strings = { en: {}, zh: {} };
