/** A change counter: views that show organizations or agents reload when something changed them. */
class OrgEvents {
  version = $state(0);
  changed() {
    this.version++;
  }
}

export const orgEvents = new OrgEvents();
